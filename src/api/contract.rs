//! What the API document says beyond what each route's annotations give.

use serde_json::{Value, json};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};

use super::extract::lenient;
use crate::admin::extensions::{DEFAULT_CONTEXT, DEFAULT_DOMAIN};

/// What a create does with each optional field left out: the value it
/// takes (`None` where it is computed from other fields), and what the
/// field is. Fields documented through `schema_with` lose their doc
/// comments, so their words live here, in one place.
fn optional_fields() -> Vec<(&'static str, &'static str, Option<Value>, &'static str)> {
    let blank = || Some(json!(""));
    let zero = || Some(json!(0));
    vec![
        ("DeviceInput", "name", blank(), "A name for the phone."),
        ("DeviceInput", "extn", blank(), "The lines; blank: none yet."),
        ("DeviceInput", "type", blank(), "The phone model."),
        ("DictInput", "v", blank(), "The value."),
        ("DictInput", "d", blank(), "A description."),
        ("DictInput", "o", zero(), "Order within the realm."),
        ("ExtensionInput", "name", None, "Default: the extension number."),
        (
            "ExtensionInput",
            "password",
            None,
            "The SIP password, stored encrypted. Default: 16 random characters.",
        ),
        (
            "ExtensionInput",
            "domain",
            Some(json!(DEFAULT_DOMAIN)),
            "The SIP domain; blank: the default.",
        ),
        (
            "ExtensionInput",
            "context",
            Some(json!(DEFAULT_CONTEXT)),
            "The dialplan context; blank: the default.",
        ),
        (
            "ExtensionInput",
            "type",
            Some(json!("SIP")),
            "SIP, VERTO, WEBRTC or TDM, any case; blank: SIP.",
        ),
        ("ExtensionInput", "cid_name", None, "Default: the name."),
        ("ExtensionInput", "cid_number", None, "Default: the extension number."),
        ("ExtensionInput", "description", blank(), "A description."),
        ("ExtensionInput", "user_id", zero(), "The user it belongs to; 0: none."),
        ("ExtensionInput", "disabled", zero(), "1 to disable it."),
        (
            "RangeInput",
            "password",
            None,
            "Shared by the whole range. Default: each extension gets 16 random characters.",
        ),
        (
            "RangeInput",
            "context",
            Some(json!(DEFAULT_CONTEXT)),
            "The dialplan context.",
        ),
        ("RangeInput", "domain", Some(json!(DEFAULT_DOMAIN)), "The SIP domain."),
        ("SensorInput", "description", blank(), "A description."),
        (
            "SensorInput",
            "caller_number",
            blank(),
            "The number shown to the callee.",
        ),
        ("SensorInput", "call_duration", blank(), "Seconds; blank: no limit."),
        (
            "SensorInput",
            "extn_id",
            zero(),
            "The id of the extension that calls; 0: none.",
        ),
        ("SensorInput", "action", Some(json!("playback")), "What the call does."),
        ("QueueInput", "description", blank(), "A description."),
        (
            "QueueInput",
            "strategy",
            None,
            "Default: longest-idle-agent for callcenter, ringall for fifo.",
        ),
        ("QueueInput", "template", blank(), "The call-centre template."),
        ("QueueInput", "cti_template", blank(), "The CTI template."),
        (
            "QueueInput",
            "moh_sound",
            blank(),
            "Music on hold: a media id or {\"media_path\": ...}; blank: none.",
        ),
        (
            "QueueInput",
            "greeting",
            blank(),
            "A media id or {\"media_path\": ...}; blank: none.",
        ),
        ("QueueInput", "auto_record", zero(), "1 to record calls."),
        (
            "QueueInput",
            "load_url",
            blank(),
            "A URL to load the queue's settings from.",
        ),
        (
            "QueueInput",
            "load_url_params",
            Some(json!("{}")),
            "JSON parameters for load_url.",
        ),
        (
            "ParamInput",
            "v",
            blank(),
            "The value; an -action key takes {\"action\":\"hangup\"} or {\"action\":\"transfer\",\"data\":...}.",
        ),
        (
            "ParamInput",
            "action",
            blank(),
            "toggle flips disabled; blank sets k and v.",
        ),
        ("UserInput", "name", None, "Default: the login."),
        (
            "UserInput",
            "extn",
            blank(),
            "Creates the user's extension with this number; blank: none.",
        ),
        (
            "UserInput",
            "extn_password",
            None,
            "The extension's SIP password. Default: the login password.",
        ),
        ("UserInput", "domain", Some(json!(DEFAULT_DOMAIN)), "The SIP domain."),
        (
            "UserInput",
            "context",
            Some(json!(DEFAULT_CONTEXT)),
            "The dialplan context.",
        ),
        (
            "UserInput",
            "type",
            Some(json!("NORMAL")),
            "NORMAL, AGENT or CONFMAN, any case.",
        ),
        ("UserInput", "cid_name", blank(), "The caller ID name."),
        ("UserInput", "cid_number", blank(), "The caller ID number."),
        ("UserInput", "email", blank(), "An e-mail address."),
        ("UserInput", "tel", blank(), "A telephone number."),
        (
            "UserInput",
            "vm_password",
            blank(),
            "The voicemail PIN, stored encrypted; blank: none.",
        ),
        ("UserInput", "tel_enabled", zero(), "1 to ring tel too."),
        ("UserInput", "auto_record", zero(), "1 to record calls."),
        ("UserInput", "disabled", zero(), "1 to disable the login."),
        ("UserInput", "is_super", zero(), "1 for an administrator."),
        (
            "UserInput",
            "agent_info",
            None,
            "Agent settings (an object, or its JSON); default: none.",
        ),
        ("TtsInput", "engine", None, "Default: the engine in the path."),
        ("LoginRequest", "login", None, "The login; or give username."),
        ("LoginRequest", "password", None, "The password; or give dev_key."),
    ]
}

/// States each optional field's default and meaning (see `optional_fields`).
pub fn optional_fields_state_their_defaults(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (schema, field, default, description) in optional_fields() {
        let property = match components.schemas.get_mut(schema) {
            Some(RefOr::T(Schema::Object(object))) => object.properties.get_mut(field),
            Some(RefOr::T(Schema::AllOf(all_of))) => all_of.items.iter_mut().find_map(|item| match item {
                RefOr::T(Schema::Object(object)) => object.properties.get_mut(field),
                _ => None,
            }),
            _ => None,
        };
        match property {
            Some(RefOr::T(Schema::OneOf(one_of))) => {
                one_of.default = default;
                one_of.description = Some(description.to_string());
            }
            Some(RefOr::T(Schema::Object(object))) => {
                object.default = default;
                object.description = Some(description.to_string());
            }
            _ => panic!("{schema}.{field} is not a documented field"),
        }
    }
}

/// An update (PUT) of a record changes only the fields it gives: none is
/// required, and null leaves a field as it is. Each PUT body of a record
/// (a path that ends in its id) that names a create schema gets that
/// schema's partial twin, `<Name>Update`. Other PUTs are actions
/// (`change_password`): their body is whole, as its type says.
pub fn updates_take_partial_bodies(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.ends_with('}') {
            continue;
        }
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

/// Required whole numbers (a sensor's media `data`) that `lenient::int`
/// reads as not given when blank: on an update, blank keeps the value as
/// null does.
const BLANK_KEEPS: &[&str] = &["data"];

/// `schema` with nothing required and null allowed for every property
/// (through `allOf`, where a flattened map joins the fields).
fn partial(schema: &Schema) -> Schema {
    match schema {
        Schema::Object(whole) => {
            let mut partial = whole.clone();
            let required = std::mem::take(&mut partial.required);
            for (name, property) in partial.properties.iter_mut() {
                if let RefOr::T(Schema::OneOf(one_of)) = property
                    && required.contains(name)
                    && BLANK_KEEPS.contains(&name.as_str())
                {
                    let blank = ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^\s*$"));
                    one_of.items.push(blank.into());
                }
                if let RefOr::T(schema) = property {
                    // Left out, a field keeps its value: no default applies.
                    match schema {
                        Schema::OneOf(one_of) => one_of.default = None,
                        Schema::Object(object) => object.default = None,
                        _ => {}
                    }
                    if !allows_null(schema) {
                        *schema = lenient::with_null(schema.clone());
                    }
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
