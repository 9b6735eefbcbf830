//! HTTP authentication of phones: Digest (RFC 7616; MD5 and SHA-256) and
//! Basic, for the files that carry SIP passwords.
//!
//! Nonces carry their issue time and are signed with a key the server makes
//! at start, so issuing one stores nothing: a flood of unauthenticated
//! requests costs no memory. A nonce is remembered only once a phone proved
//! its password with it; each later use must raise the nonce count, so a
//! captured request cannot be replayed. Every comparison of a secret is
//! constant-time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const REALM: &str = "sipprov";
/// How long a nonce may be used.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Passwords a request may be checked against: a site credential and a
/// phone's own, each with a previous password during a rotation.
const FIXED_CANDIDATES: usize = 4;
/// Proven nonces remembered at once; past this, expired ones are dropped.
const MAX_NONCES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Basic,
    Digest,
}

impl Mode {
    pub fn parse(v: &str) -> Option<Mode> {
        match v.trim().to_lowercase().as_str() {
            "off" | "none" | "" => Some(Mode::Off),
            "basic" => Some(Mode::Basic),
            "digest" => Some(Mode::Digest),
            _ => None,
        }
    }
}

/// A user name with the passwords it is accepted with (two during a rotation).
#[derive(Debug, Clone, Default)]
pub struct Credential {
    pub username: String,
    pub passwords: Vec<String>,
    pub holder: Holder,
}

/// Whose credential a request proved: the site's, which every phone may
/// share, or one phone's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Holder {
    #[default]
    Site,
    Phone,
}

pub struct NonceStore {
    key: [u8; 32],
    /// Nonces a phone has proven its password with, and their last count.
    used: Mutex<HashMap<String, Used>>,
}

impl Default for NonceStore {
    fn default() -> Self {
        NonceStore {
            key: crate::secrets::random_bytes::<32>(),
            used: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for NonceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceStore").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Used {
    issued_at: u64,
    last_count: u64,
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl NonceStore {
    /// `<issued at>.<random>.<signature>`, all hex.
    fn issue(&self) -> String {
        let body = format!(
            "{:x}.{}",
            unix_seconds(),
            hex::encode(crate::secrets::random_bytes::<8>())
        );
        format!("{body}.{}", self.sign(&body))
    }

    fn sign(&self, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(body.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// When a nonce this server signed was issued.
    fn issued_at(&self, nonce: &str) -> Option<u64> {
        let (body, signature) = nonce.rsplit_once('.')?;
        let genuine: bool = self.sign(body).as_bytes().ct_eq(signature.as_bytes()).into();
        let issued_at = u64::from_str_radix(body.split_once('.')?.0, 16).ok()?;
        genuine.then_some(issued_at)
    }

    /// Accepts a signed, unexpired nonce once per count, counts rising.
    fn accept(&self, nonce: &str, count: u64) -> bool {
        let now = unix_seconds();
        let live = |issued_at: u64| now.saturating_sub(issued_at) < NONCE_LIFETIME.as_secs();
        let Some(issued_at) = self.issued_at(nonce).filter(|t| live(*t)) else {
            return false;
        };
        let mut used = self.used.lock().expect("nonce lock");
        if used.len() >= MAX_NONCES {
            used.retain(|_, u| live(u.issued_at));
        }
        let entry = used.entry(nonce.to_string()).or_insert(Used {
            issued_at,
            last_count: 0,
        });
        if count <= entry.last_count {
            return false;
        }
        entry.last_count = count;
        true
    }

    /// The `WWW-Authenticate` values that ask a phone to authenticate.
    /// `stale` tells a phone that its password was right but its nonce
    /// was used up or expired, so it retries at once with the new one.
    pub fn challenges(&self, mode: Mode, stale: bool) -> Vec<String> {
        let stale = if stale { ", stale=true" } else { "" };
        match mode {
            Mode::Off => Vec::new(),
            Mode::Basic => vec![format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"")],
            Mode::Digest => {
                let nonce = self.issue();
                ["SHA-256", "MD5"]
                    .iter()
                    .map(|alg| format!("Digest realm=\"{REALM}\", qop=\"auth\", algorithm={alg}, nonce=\"{nonce}\", opaque=\"{REALM}\"{stale}"))
                    .collect()
            }
        }
    }

    /// What an `Authorization` header proves for a request with `method`
    /// and `target` (its path and query, as sent).
    pub fn verify(
        &self,
        mode: Mode,
        header: Option<&str>,
        request: (&str, &str),
        credentials: &[Credential],
    ) -> Verdict {
        if mode == Mode::Off {
            return Verdict::Open;
        }
        let Some(header) = header else {
            return Verdict::Missing;
        };
        match mode {
            Mode::Off => Verdict::Open,
            Mode::Basic => verify_basic(header, credentials).map_or(Verdict::Wrong, Verdict::Proven),
            Mode::Digest => self.verify_digest(header, request, credentials),
        }
    }

    fn verify_digest(&self, header: &str, (method, target): (&str, &str), credentials: &[Credential]) -> Verdict {
        let Some(params) = header.strip_prefix("Digest ").map(parse_params) else {
            return Verdict::Wrong;
        };
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let hash: fn(&str) -> String = match get("algorithm").to_uppercase().as_str() {
            "" | "MD5" => |s| hex::encode(Md5::digest(s.as_bytes())),
            "SHA-256" => |s| hex::encode(Sha256::digest(s.as_bytes())),
            _ => return Verdict::Wrong,
        };
        // RFC 7616 3.4.6: the response covers `uri`, which must be the
        // request's own target, or a response for one file opens another.
        if get("realm") != REALM || get("qop") != "auth" || get("uri") != target {
            return Verdict::Wrong;
        }
        let Ok(count) = u64::from_str_radix(get("nc"), 16) else {
            return Verdict::Wrong;
        };
        let ha2 = hash(&format!("{method}:{}", get("uri")));
        let mut proven_by = None;
        // Every candidate is computed, and at least as many as a phone with
        // its own credential has, so neither the answer nor whether the MAC
        // has credentials of its own shows in the time taken.
        let candidates: usize = credentials.iter().map(|c| c.passwords.len()).sum();
        for _ in candidates..FIXED_CANDIDATES {
            let _ = std::hint::black_box(hash(&format!("{}:{REALM}:{}", get("username"), get("response"))));
            let _ = std::hint::black_box(hash(&format!("{}:{}:{}", get("nonce"), get("nc"), get("cnonce"))));
        }
        for credential in credentials {
            for password in &credential.passwords {
                let ha1 = hash(&format!("{}:{REALM}:{password}", credential.username));
                let expected = hash(&format!(
                    "{ha1}:{}:{}:{}:auth:{ha2}",
                    get("nonce"),
                    get("nc"),
                    get("cnonce")
                ));
                let same_user = credential.username.as_bytes().ct_eq(get("username").as_bytes());
                if bool::from(same_user & expected.as_bytes().ct_eq(get("response").to_lowercase().as_bytes())) {
                    proven_by = Some(credential.holder);
                }
            }
        }
        match proven_by {
            Some(holder) if self.accept(get("nonce"), count) => Verdict::Proven(holder),
            Some(_) => Verdict::Stale,
            None => Verdict::Wrong,
        }
    }
}

/// What a request's credentials prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Phone authentication is off: nothing is asked, nothing proven.
    Open,
    Proven(Holder),
    /// None given: how Digest starts.
    Missing,
    /// The right password on a nonce that is used up, expired or unknown.
    Stale,
    Wrong,
}

/// Whose credential a Basic header proves, if any.
fn verify_basic(header: &str, credentials: &[Credential]) -> Option<Holder> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = B64.decode(encoded.trim()).ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    let mut proven_by = None;
    for credential in credentials {
        for accepted in &credential.passwords {
            let matches =
                credential.username.as_bytes().ct_eq(user.as_bytes()) & accepted.as_bytes().ct_eq(password.as_bytes());
            if bool::from(matches) {
                proven_by = Some(credential.holder);
            }
        }
    }
    proven_by
}

/// `a="1", b=2` → {a: 1, b: 2}
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim(), &after[end..]),
                None => (after.trim(), ""),
            }
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches([',', ' ']);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/prov/001565aabbcc.cfg";

    fn creds() -> Vec<Credential> {
        vec![Credential {
            username: "phone".into(),
            passwords: vec!["new-pass".into(), "old-pass".into()],
            holder: Holder::Site,
        }]
    }

    /// What a phone computes from a challenge.
    fn answer(alg: &str, nonce: &str, nc: &str, password: &str) -> String {
        let hash = |s: String| {
            if alg == "MD5" {
                hex::encode(Md5::digest(s.as_bytes()))
            } else {
                hex::encode(Sha256::digest(s.as_bytes()))
            }
        };
        let ha1 = hash(format!("phone:{REALM}:{password}"));
        let ha2 = hash(format!("GET:{FILE}"));
        let response = hash(format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}"));
        format!(
            r#"Digest username="phone", realm="{REALM}", nonce="{nonce}", uri="{FILE}", algorithm={alg}, response="{response}", qop=auth, nc={nc}, cnonce="abc""#
        )
    }

    fn nonce_of(challenge: &str) -> String {
        parse_params(challenge.strip_prefix("Digest ").unwrap())["nonce"].clone()
    }

    #[test]
    fn digest_both_algorithms_rotation_and_replay() {
        let store = NonceStore::default();
        let check = |header: &str| store.verify(Mode::Digest, Some(header), ("GET", FILE), &creds());
        for alg in ["SHA-256", "MD5"] {
            let challenge = &store.challenges(Mode::Digest, false)[0];
            assert!(!challenge.contains("stale"));
            let nonce = nonce_of(challenge);
            let first = answer(alg, &nonce, "00000001", "new-pass");
            assert_eq!(check(&first), Verdict::Proven(Holder::Site), "{alg}");
            assert_eq!(check(&first), Verdict::Stale, "{alg}: a replay proves nothing new");
            assert_eq!(
                check(&answer(alg, &nonce, "00000002", "old-pass")),
                Verdict::Proven(Holder::Site),
                "{alg}: previous password"
            );
            assert_eq!(check(&answer(alg, &nonce, "00000003", "wrong")), Verdict::Wrong);
        }
        assert_eq!(
            check(&answer("MD5", "made-up-nonce", "00000001", "new-pass")),
            Verdict::Stale,
            "unknown nonce"
        );
        assert_eq!(
            check(&answer("MD5", "made-up-nonce", "00000001", "guess")),
            Verdict::Wrong
        );
        assert_eq!(
            store.verify(Mode::Digest, None, ("GET", FILE), &creds()),
            Verdict::Missing
        );
        assert!(store.challenges(Mode::Digest, true)[0].ends_with(", stale=true"));
    }

    #[test]
    fn challenges_cost_no_memory_and_only_signed_nonces_count() {
        let store = NonceStore::default();
        for _ in 0..10_000 {
            store.challenges(Mode::Digest, false);
        }
        assert!(store.used.lock().unwrap().is_empty(), "issuing a nonce stores nothing");
        let nonce = nonce_of(&store.challenges(Mode::Digest, false)[0]);
        let (body, _) = nonce.rsplit_once('.').unwrap();
        let forged = format!("{body}.{}", "0".repeat(32));
        let check = |n: &str| {
            store.verify(
                Mode::Digest,
                Some(&answer("SHA-256", n, "00000001", "new-pass")),
                ("GET", FILE),
                &creds(),
            )
        };
        assert_eq!(check(&forged), Verdict::Stale);
        let other_server = nonce_of(&NonceStore::default().challenges(Mode::Digest, false)[0]);
        assert_eq!(check(&other_server), Verdict::Stale, "signed with another key");
        assert_eq!(check(&nonce), Verdict::Proven(Holder::Site));
        assert_eq!(store.used.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_digest_response_opens_only_the_file_it_was_computed_for() {
        let store = NonceStore::default();
        let nonce = nonce_of(&store.challenges(Mode::Digest, false)[0]);
        let header = answer("SHA-256", &nonce, "00000001", "new-pass");
        for other in [
            "/prov/001565aabbcd.cfg",
            "/prov/001565aabbcc.cfg?x=1",
            "/api/provision/yealink/001565aabbcc.cfg",
        ] {
            assert_eq!(
                store.verify(Mode::Digest, Some(&header), ("GET", other), &creds()),
                Verdict::Wrong,
                "{other}"
            );
        }
        assert_eq!(
            store.verify(Mode::Digest, Some(&header), ("GET", FILE), &creds()),
            Verdict::Proven(Holder::Site)
        );
    }

    #[test]
    fn basic_with_rotation_and_its_holder() {
        let header = |up: &str| format!("Basic {}", B64.encode(up));
        let mut both = creds();
        both.push(Credential {
            username: "own".into(),
            passwords: vec!["own-pass".into()],
            holder: Holder::Phone,
        });
        assert_eq!(verify_basic(&header("phone:new-pass"), &both), Some(Holder::Site));
        assert_eq!(verify_basic(&header("phone:old-pass"), &both), Some(Holder::Site));
        assert_eq!(verify_basic(&header("own:own-pass"), &both), Some(Holder::Phone));
        assert_eq!(verify_basic(&header("phone:nope"), &both), None);
        assert_eq!(verify_basic(&header("other:new-pass"), &both), None);
        assert_eq!(verify_basic("Basic !!!", &both), None);
    }
}
