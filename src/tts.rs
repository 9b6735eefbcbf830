//! Text to speech: the REST APIs of Baidu, Alibaba Cloud and Huawei Cloud,
//! and a `local` engine (espeak-ng) that works offline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::config::TtsSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Baidu,
    Ali,
    Huawei,
    Local,
}

impl Engine {
    pub const NAMES: &[&str] = &["baidu", "ali", "huawei", "local"];

    pub fn parse(name: &str) -> Option<Engine> {
        match name.trim().to_lowercase().as_str() {
            "baidu" => Some(Engine::Baidu),
            "ali" => Some(Engine::Ali),
            "huawei" => Some(Engine::Huawei),
            "local" => Some(Engine::Local),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Baidu => "baidu",
            Engine::Ali => "ali",
            Engine::Huawei => "huawei",
            Engine::Local => "local",
        }
    }

    /// The voice this engine speaks `text` with.
    pub fn voice(self, settings: &TtsSettings, text: &str) -> String {
        match self {
            Engine::Baidu => settings.baidu_voice.clone(),
            Engine::Ali => settings.ali_voice.clone(),
            Engine::Huawei => settings.huawei_voice.clone(),
            // espeak-ng's Mandarin for Chinese text, English otherwise.
            Engine::Local if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) => "cmn".into(),
            Engine::Local => "en".into(),
        }
    }
}

/// Audio an engine made.
#[derive(Debug)]
pub struct Speech {
    pub bytes: Vec<u8>,
    pub ext: &'static str,
    pub mime: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// What to configure (503).
    #[error("{0}")]
    NotConfigured(String),
    /// The engine refused or failed (502).
    #[error("{0}")]
    Upstream(String),
}

/// Makes the same key for the same synthesis, so a prompt is made once.
pub fn cache_key(engine: Engine, voice: &str, text: &str) -> String {
    hex::encode(Sha256::digest(format!("{}\n{voice}\n{text}", engine.name()).as_bytes()))
}

/// One HTTP client and the engines' access tokens.
pub struct Synthesizer {
    http: reqwest::Client,
    tokens: Mutex<HashMap<Engine, (String, Instant)>>,
}

impl Default for Synthesizer {
    fn default() -> Self {
        Synthesizer {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            tokens: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer").finish_non_exhaustive()
    }
}

fn upstream(engine: &str, what: impl std::fmt::Display) -> TtsError {
    TtsError::Upstream(format!("{engine}: {what}"))
}

fn missing(engine: &str, keys: &[&str]) -> TtsError {
    let env: Vec<String> = keys
        .iter()
        .map(|k| format!("SIPPROV_TTS__{}", k.to_uppercase()))
        .collect();
    TtsError::NotConfigured(format!(
        "tts: {engine} is not configured; set {} in [tts] of the settings file (or {}), or set tts.fallback = \"local\"",
        keys.join(", "),
        env.join(", ")
    ))
}

impl Synthesizer {
    pub async fn speak(
        &self,
        engine: Engine,
        settings: &TtsSettings,
        voice: &str,
        text: &str,
    ) -> Result<Speech, TtsError> {
        match engine {
            Engine::Baidu => self.baidu(settings, voice, text).await,
            Engine::Ali => self.ali(settings, voice, text).await,
            Engine::Huawei => self.huawei(settings, voice, text).await,
            Engine::Local => local(settings, voice, text).await,
        }
    }

    fn cached_token(&self, engine: Engine) -> Option<String> {
        let tokens = self.tokens.lock().expect("token lock");
        tokens
            .get(&engine)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| t.clone())
    }

    fn keep_token(&self, engine: Engine, token: &str, lifetime: Duration) {
        // Renewed a minute early, so a request never carries a dying token.
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        self.tokens
            .lock()
            .expect("token lock")
            .insert(engine, (token.to_string(), until));
    }

    /// Baidu: an OAuth client-credentials token, then `text2audio`, which
    /// answers audio, or JSON `{err_no, err_msg}`.
    async fn baidu(&self, s: &TtsSettings, voice: &str, text: &str) -> Result<Speech, TtsError> {
        if s.baidu_api_key.is_empty() || s.baidu_secret_key.is_empty() {
            return Err(missing("baidu", &["baidu_api_key", "baidu_secret_key"]));
        }
        let token = match self.cached_token(Engine::Baidu) {
            Some(t) => t,
            None => {
                let reply: Value = self
                    .http
                    .post(&s.baidu_token_url)
                    .query(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", s.baidu_api_key.as_str()),
                        ("client_secret", s.baidu_secret_key.as_str()),
                    ])
                    .send()
                    .await
                    .map_err(|e| upstream("baidu", e))?
                    .json()
                    .await
                    .map_err(|e| upstream("baidu", format!("token reply: {e}")))?;
                let Some(token) = reply["access_token"].as_str() else {
                    return Err(upstream(
                        "baidu",
                        format!(
                            "no token: {} {}",
                            reply["error"].as_str().unwrap_or(""),
                            reply["error_description"].as_str().unwrap_or("")
                        ),
                    ));
                };
                let lifetime = Duration::from_secs(reply["expires_in"].as_u64().unwrap_or(86_400));
                self.keep_token(Engine::Baidu, token, lifetime);
                token.to_string()
            }
        };
        let reply = self
            .http
            .post(&s.baidu_url)
            .form(&[
                ("tex", text),
                ("tok", token.as_str()),
                ("cuid", "sipprov"),
                ("ctp", "1"),
                ("lan", "zh"),
                ("per", voice),
                // 6: WAV.
                ("aue", "6"),
            ])
            .send()
            .await
            .map_err(|e| upstream("baidu", e))?;
        audio_or_error(reply, "baidu", |v| {
            format!("err_no {}: {}", v["err_no"], v["err_msg"].as_str().unwrap_or(""))
        })
        .await
    }

    /// Alibaba Cloud: a token from the CreateToken POP API (signed with the
    /// AccessKey), then the RESTful `stream/v1/tts`, which answers audio, or
    /// JSON `{status, message}`.
    async fn ali(&self, s: &TtsSettings, voice: &str, text: &str) -> Result<Speech, TtsError> {
        if s.ali_access_key_id.is_empty() || s.ali_access_key_secret.is_empty() || s.ali_appkey.is_empty() {
            return Err(missing(
                "ali",
                &["ali_access_key_id", "ali_access_key_secret", "ali_appkey"],
            ));
        }
        let token = match self.cached_token(Engine::Ali) {
            Some(t) => t,
            None => {
                let query = ali_signed_query(
                    &s.ali_access_key_id,
                    &s.ali_access_key_secret,
                    &uuid::Uuid::new_v4().to_string(),
                    &time::OffsetDateTime::now_utc(),
                );
                let url = format!("{}?{query}", s.ali_token_url);
                let reply: Value = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| upstream("ali", e))?
                    .json()
                    .await
                    .map_err(|e| upstream("ali", format!("token reply: {e}")))?;
                let Some(token) = reply["Token"]["Id"].as_str() else {
                    return Err(upstream(
                        "ali",
                        format!(
                            "no token: {} {}",
                            reply["Code"].as_str().unwrap_or(""),
                            reply["Message"].as_str().unwrap_or("")
                        ),
                    ));
                };
                let expires = reply["Token"]["ExpireTime"].as_i64().unwrap_or(0);
                let left = expires - time::OffsetDateTime::now_utc().unix_timestamp();
                self.keep_token(Engine::Ali, token, Duration::from_secs(left.max(0) as u64));
                token.to_string()
            }
        };
        let reply = self
            .http
            .post(&s.ali_url)
            .json(&json!({
                "appkey": s.ali_appkey, "token": token, "text": text,
                "format": "wav", "sample_rate": 8000, "voice": voice,
            }))
            .send()
            .await
            .map_err(|e| upstream("ali", e))?;
        audio_or_error(reply, "ali", |v| {
            format!("status {}: {}", v["status"], v["message"].as_str().unwrap_or(""))
        })
        .await
    }

    /// Huawei Cloud: an IAM token (password authentication, returned in
    /// `X-Subject-Token`), then SIS `tts`, which answers JSON with base64
    /// audio in `result.data`, or `{error_code, error_msg}`.
    async fn huawei(&self, s: &TtsSettings, voice: &str, text: &str) -> Result<Speech, TtsError> {
        if s.huawei_username.is_empty()
            || s.huawei_password.is_empty()
            || s.huawei_domain.is_empty()
            || s.huawei_project_id.is_empty()
        {
            return Err(missing(
                "huawei",
                &[
                    "huawei_username",
                    "huawei_password",
                    "huawei_domain",
                    "huawei_project_id",
                ],
            ));
        }
        let token = match self.cached_token(Engine::Huawei) {
            Some(t) => t,
            None => {
                let body = json!({"auth": {
                    "identity": {"methods": ["password"], "password": {"user": {
                        "name": s.huawei_username, "password": s.huawei_password, "domain": {"name": s.huawei_domain}}}},
                    "scope": {"project": {"name": s.huawei_region}}}});
                let reply = self
                    .http
                    .post(&s.huawei_iam_url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| upstream("huawei", e))?;
                let token = reply
                    .headers()
                    .get("X-Subject-Token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let Some(token) = token else {
                    let status = reply.status();
                    let v: Value = reply.json().await.unwrap_or_default();
                    return Err(upstream(
                        "huawei",
                        format!("no token ({status}): {}", v["error"]["message"].as_str().unwrap_or("")),
                    ));
                };
                // IAM tokens live 24 hours.
                self.keep_token(Engine::Huawei, &token, Duration::from_secs(23 * 3600));
                token
            }
        };
        let url = s.huawei_url.replace("{project_id}", &s.huawei_project_id);
        let reply: Value = self
            .http
            .post(url)
            .header("X-Auth-Token", token)
            .json(&json!({"text": text, "config": {"audio_format": "wav", "sample_rate": "8000", "property": voice}}))
            .send()
            .await
            .map_err(|e| upstream("huawei", e))?
            .json()
            .await
            .map_err(|e| upstream("huawei", format!("reply: {e}")))?;
        match reply["result"]["data"].as_str() {
            Some(data) => Ok(Speech {
                bytes: B64
                    .decode(data)
                    .map_err(|e| upstream("huawei", format!("audio is not base64: {e}")))?,
                ext: "wav",
                mime: "audio/wav",
            }),
            None => Err(upstream(
                "huawei",
                format!(
                    "{}: {}",
                    reply["error_code"].as_str().unwrap_or("no audio"),
                    reply["error_msg"].as_str().unwrap_or("")
                ),
            )),
        }
    }
}

/// A reply that is audio, or the engine's JSON error described by `error`.
async fn audio_or_error(
    reply: reqwest::Response,
    engine: &str,
    error: impl Fn(&Value) -> String,
) -> Result<Speech, TtsError> {
    let content_type = reply
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_lowercase();
    let status = reply.status();
    let bytes = reply.bytes().await.map_err(|e| upstream(engine, e))?;
    if status.is_success() && content_type.starts_with("audio/") {
        let (ext, mime) = if content_type.contains("mp") {
            ("mp3", "audio/mpeg")
        } else {
            ("wav", "audio/wav")
        };
        return Ok(Speech {
            bytes: bytes.to_vec(),
            ext,
            mime,
        });
    }
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Err(upstream(engine, format!("{} ({status})", error(&v))))
}

/// The signed query of Alibaba Cloud's CreateToken (POP RPC, HMAC-SHA1).
fn ali_signed_query(key_id: &str, secret: &str, nonce: &str, now: &time::OffsetDateTime) -> String {
    let timestamp = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("formatting a valid date");
    let mut params = [
        ("AccessKeyId", key_id),
        ("Action", "CreateToken"),
        ("Format", "JSON"),
        ("RegionId", "cn-shanghai"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce),
        ("SignatureVersion", "1.0"),
        ("Timestamp", timestamp.as_str()),
        ("Version", "2019-02-28"),
    ];
    params.sort();
    let canonical = params
        .iter()
        .map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("GET&{}&{}", pop_encode("/"), pop_encode(&canonical));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key length");
    mac.update(to_sign.as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    format!("Signature={}&{canonical}", pop_encode(&signature))
}

/// Percent-encoding as the POP signature wants it: RFC 3986 unreserved
/// characters stay, everything else is `%XX`.
fn pop_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// espeak-ng (or a compatible command) writing a WAV file; the text goes
/// in on standard input, never through a shell.
async fn local(s: &TtsSettings, voice: &str, text: &str) -> Result<Speech, TtsError> {
    let out = std::env::temp_dir().join(format!("sipprov-tts-{}.wav", uuid::Uuid::new_v4()));
    let mut child = tokio::process::Command::new(&s.local_command)
        .args(["--stdin", "-v", voice, "-w"])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            TtsError::NotConfigured(format!(
                "tts: the local engine needs '{}' (apt-get install espeak-ng): {e}",
                s.local_command
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| upstream("local", e))?;
    }
    let done = child.wait_with_output().await.map_err(|e| upstream("local", e))?;
    let bytes = tokio::fs::read(&out).await;
    let _ = tokio::fs::remove_file(&out).await;
    if !done.status.success() {
        return Err(upstream(
            "local",
            String::from_utf8_lossy(&done.stderr).trim().to_string(),
        ));
    }
    Ok(Speech {
        bytes: bytes.map_err(|e| upstream("local", e))?,
        ext: "wav",
        mime: "audio/wav",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_signature_follows_the_documented_example() {
        // Percent-encoding: the POP rules, not form encoding.
        assert_eq!(pop_encode("a b*~"), "a%20b%2A~");
        let now = time::macros::datetime!(2019-04-18 08:32:31 UTC);
        let q = ali_signed_query(
            "my_access_key_id",
            "my_access_key_secret",
            "b924c8c3-6d03-4c5d-ad36-d984d3116788",
            &now,
        );
        assert!(q.starts_with("Signature="), "{q}");
        assert!(q.contains("&AccessKeyId=my_access_key_id&Action=CreateToken&Format=JSON&RegionId=cn-shanghai"));
        assert!(q.contains("&Timestamp=2019-04-18T08%3A32%3A31Z&Version=2019-02-28"));
        // The same inputs always sign the same way, and the secret matters.
        assert_eq!(
            q,
            ali_signed_query(
                "my_access_key_id",
                "my_access_key_secret",
                "b924c8c3-6d03-4c5d-ad36-d984d3116788",
                &now
            )
        );
        assert_ne!(
            q,
            ali_signed_query(
                "my_access_key_id",
                "other",
                "b924c8c3-6d03-4c5d-ad36-d984d3116788",
                &now
            )
        );
    }

    #[test]
    fn the_local_voice_follows_the_text() {
        let s = TtsSettings::default();
        assert_eq!(Engine::Local.voice(&s, "你好"), "cmn");
        assert_eq!(Engine::Local.voice(&s, "hello"), "en");
        assert_ne!(cache_key(Engine::Local, "en", "a"), cache_key(Engine::Baidu, "en", "a"));
    }
}
