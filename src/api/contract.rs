//! What the API document says beyond what each route's annotations give.

use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};

use super::extract::lenient;

/// An update (PUT) changes only the fields it gives: none is required, and
/// null leaves a field as it is. Each PUT body that names a create schema
/// gets that schema's partial twin, `<Name>Update`.
pub fn updates_take_partial_bodies(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for item in doc.paths.paths.values_mut() {
        let Some(RefOr::T(body)) = item.put.as_mut().and_then(|op| op.request_body.as_mut()) else {
            continue;
        };
        for content in body.content.values_mut() {
            let RefOr::T(content) = content else {
                continue;
            };
            let Some(RefOr::Ref(reference)) = content.schema.as_mut() else {
                continue;
            };
            let Some(name) = reference.ref_location.strip_prefix("#/components/schemas/") else {
                continue;
            };
            let partial_name = format!("{name}Update");
            if !components.schemas.contains_key(&partial_name) {
                let Some(RefOr::T(whole)) = components.schemas.get(name) else {
                    continue;
                };
                components
                    .schemas
                    .insert(partial_name.clone(), RefOr::T(partial(whole)));
            }
            reference.ref_location = format!("#/components/schemas/{partial_name}");
        }
    }
}

/// `schema` with nothing required and null allowed for every property
/// (through `allOf`, where a flattened map joins the fields).
fn partial(schema: &Schema) -> Schema {
    match schema {
        Schema::Object(whole) => {
            let mut partial = whole.clone();
            partial.required.clear();
            for property in partial.properties.values_mut() {
                if let RefOr::T(schema) = property
                    && !allows_null(schema)
                {
                    *schema = lenient::with_null(schema.clone());
                }
            }
            Schema::Object(partial)
        }
        Schema::AllOf(all_of) => {
            let mut all_of = all_of.clone();
            for item in &mut all_of.items {
                if let RefOr::T(schema) = item {
                    *schema = partial(schema);
                }
            }
            Schema::AllOf(all_of)
        }
        other => other.clone(),
    }
}

fn allows_null(schema: &Schema) -> bool {
    match schema {
        Schema::OneOf(one_of) => one_of.items.iter().any(|item| match item {
            RefOr::T(item) => allows_null(item),
            RefOr::Ref(_) => false,
        }),
        Schema::Object(object) => object.schema_type == Type::Null.into(),
        _ => false,
    }
}
