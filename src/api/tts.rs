//! `POST /api/{engine}/tts`: speaks a text into a TTS media file with Baidu,
//! Alibaba Cloud, Huawei Cloud or the offline `local` engine. The same
//! (engine, voice, text) gives back the prompt already made.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, Input, lenient};
use super::media::{describe_file, generated_name};
use crate::admin::Admin;
use crate::admin::log::Action;
use crate::domain::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::media::media_dir;
use crate::state::AppState;
use crate::store::media::{MediaFields, MediaFile};
use crate::tts::{self, Engine, TtsError};

/// The longest text one request speaks.
const MAX_TEXT: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(speak))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct TtsInput {
    /// The engine; when given, it must be the one in the path.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "ali")]
    pub engine: Option<String>,
    /// The text to speak, at most 1000 characters.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<1000>, required = true, example = "你好,欢迎致电烟台小樱桃网络科技有限公司")]
    pub input: Option<String>,
}

#[utoipa::path(post, path = "/api/{engine}/tts", tag = "media", params(("engine" = String, Path, description = "baidu, ali, huawei or local")), request_body = TtsInput,
    responses((status = 200, body = MediaFile, description = "the TTS media row"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody, description = "the engine refused or failed"), (status = 503, body = ErrorBody, description = "the engine is not configured")))]
pub async fn speak(
    State(state): State<AppState>,
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(engine_name): ApiPath<String>,
    Input(input): Input<TtsInput>,
) -> Result<Json<MediaFile>, ApiError> {
    let engine = Engine::parse(&engine_name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no TTS engine '{engine_name}'; use one of {}",
            Engine::NAMES.join(", ")
        ))
    })?;
    if let Some(given) = input.engine.as_deref().filter(|e| !e.trim().is_empty())
        && Engine::parse(given) != Some(engine)
    {
        return Err(ApiError::field(
            "engine",
            format!("'{given}' is not the engine of the path ({})", engine.name()),
        ));
    }
    let text = input
        .input
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::field("input", "required: the text to speak"))?;
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::field("input", format!("at most {MAX_TEXT} characters")));
    }
    let settings = &state.settings.tts;
    let synthesizer: &Arc<tts::Synthesizer> = &state.tts;
    let mut used = engine;
    let mut voice = engine.voice(settings, &text);
    let mut key = tts::cache_key(used, &voice, &text);
    if let Some(made) = reuse(&state, &key).await? {
        return Ok(Json(made));
    }
    let speech = match synthesizer.speak(engine, settings, &voice, &text).await {
        Err(TtsError::NotConfigured(why)) if settings.fallback == "local" && engine != Engine::Local => {
            tracing::info!(engine = engine.name(), reason = %why, "TTS falls back to the local engine");
            used = Engine::Local;
            voice = used.voice(settings, &text);
            key = tts::cache_key(used, &voice, &text);
            if let Some(made) = reuse(&state, &key).await? {
                return Ok(Json(made));
            }
            synthesizer.speak(used, settings, &voice, &text).await
        }
        other => other,
    }
    .map_err(|err| match err {
        TtsError::NotConfigured(m) => ApiError::Unavailable(m),
        TtsError::Upstream(m) => ApiError::BadGateway(format!("tts: {m}")),
    })?;
    let dir = media_dir(&state.settings.data_dir, "TTS");
    tokio::fs::create_dir_all(&dir).await.map_err(anyhow::Error::from)?;
    let rel_path = generated_name(&format!("{}-tts", used.name()), speech.ext);
    let path = dir.join(&rel_path);
    tokio::fs::write(&path, &speech.bytes)
        .await
        .map_err(anyhow::Error::from)?;
    let name: String = text.chars().take(255).collect();
    let mut fields = MediaFields {
        kind: "TTS".into(),
        name,
        description: text,
        ext: speech.ext.into(),
        mime: speech.mime.into(),
        dir_path: dir.display().to_string(),
        abs_path: path.display().to_string(),
        rel_path,
        user_id: actor.user_id,
        channel_uuid: uuid::Uuid::new_v4().to_string(),
        tts_key: key,
        ..Default::default()
    };
    describe_file(&mut fields, &path).await;
    let made = state
        .db
        .insert_media_files(&[fields], timestamp::now())
        .await?
        .remove(0);
    admin
        .record(
            &actor,
            "tts",
            Action::Create,
            Some(made.id),
            &serde_json::json!({"engine": used.name(), "input": made.fields.description}),
        )
        .await;
    Ok(Json(made))
}

/// The prompt this synthesis already made, if its file is still there.
async fn reuse(state: &AppState, key: &str) -> Result<Option<MediaFile>, ApiError> {
    let Some(made) = state.db.tts_prompt(key).await? else {
        return Ok(None);
    };
    let present = tokio::fs::try_exists(&made.fields.abs_path).await.unwrap_or(false);
    Ok(present.then_some(made))
}
