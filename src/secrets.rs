//! Everything secret: admin password hashes (argon2id), API tokens (random,
//! stored as SHA-256), SIP passwords (AES-256-GCM at rest, because phones need
//! them back in plaintext) and the SIP digest hashes XSwitch calls ha1/ha1b.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use std::cell::RefCell;

use argon2::Argon2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const KEY_FILE: &str = "secret.key";
const CIPHERTEXT_PREFIX: &str = "v1:";

/// Encrypts the secrets sipprov must be able to give back (SIP passwords).
#[derive(Clone)]
pub struct SecretBox {
    cipher: Arc<Aes256Gcm>,
    /// Keys [`SecretBox::file_version`], derived from the same key.
    version_key: Arc<[u8; 32]>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// Uses `key` (32 bytes, base64 or hex) when given, else the key file in
    /// the data dir, creating it (mode 0600) on first start.
    pub fn load_or_create(key: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let bytes = match key {
            Some(k) => decode_key(k).context("SIPPROV_SECRET_KEY")?,
            None => {
                let path = data_dir.join(KEY_FILE);
                if path.exists() {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    decode_key(&text).with_context(|| format!("key file {}", path.display()))?
                } else {
                    let fresh: [u8; 32] = random_bytes();
                    write_private_file(&path, &B64.encode(fresh))?;
                    fresh.to_vec()
                }
            }
        };
        Ok(Self::from_key(&bytes))
    }

    pub fn from_key(key: &[u8]) -> Self {
        let cipher = Aes256Gcm::new_from_slice(key).expect("key is 32 bytes");
        let mut derived = <Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut derived, b"sipprov file version key:");
        sha2::Digest::update(&mut derived, key);
        Self {
            cipher: Arc::new(cipher),
            version_key: Arc::new(sha2::Digest::finalize(derived).into()),
        }
    }

    /// A served file's version as the timeline keeps it: a keyed hash of
    /// its ETag (itself a hash of the bytes, passwords included), so a copy
    /// of the database holds nothing to test guessed passwords against.
    /// The same file gives the same version on every node that shares the key.
    pub fn file_version(&self, etag: &str) -> String {
        use hmac::{KeyInit as _, Mac as _};
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(self.version_key.as_slice()).expect("any key length");
        mac.update(etag.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// `aad` binds the ciphertext to what it belongs to, so it cannot be
    /// copied onto another row.
    pub fn encrypt(&self, plaintext: &str, aad: &str) -> String {
        let nonce = Nonce::generate();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{CIPHERTEXT_PREFIX}{}", B64.encode(out))
    }

    pub fn decrypt(&self, stored: &str, aad: &str) -> anyhow::Result<String> {
        let raw = stored
            .strip_prefix(CIPHERTEXT_PREFIX)
            .context("unknown ciphertext version")?;
        let raw = B64.decode(raw).context("ciphertext is not base64")?;
        if raw.len() < 12 {
            bail!("ciphertext too short");
        }
        let (nonce, sealed) = raw.split_at(12);
        let nonce = Nonce::try_from(nonce).context("bad nonce")?;
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("ciphertext does not open with this key"))?;
        String::from_utf8(plain).context("plaintext is not UTF-8")
    }
}

fn decode_key(text: &str) -> anyhow::Result<Vec<u8>> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text)?
    } else {
        B64.decode(text).context("the key is neither base64 nor hex")?
    };
    if bytes.len() != 32 {
        bail!("the key must be 32 bytes, found {}", bytes.len());
    }
    Ok(bytes)
}

/// The binding of an extension's encrypted SIP password to its account.
pub fn password_aad(extn: &str, domain: &str) -> String {
    format!("{extn}@{domain}")
}

/// The binding of an encrypted setting to its realm and key.
pub fn secret_aad(realm: &str, k: &str) -> String {
    format!("dicts:{realm}:{k}")
}

/// Writes a file only its owner can read.
pub fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    buf
}

/// A random password of letters and digits, for generated credentials.
pub fn random_password(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>() {
            // Rejection sampling keeps every character equally likely.
            let limit = 256 - 256 % ALPHABET.len();
            if (b as usize) < limit && out.len() < len {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// A new API token (256 random bits, hex) and the hash that is stored.
pub fn new_token() -> (String, String) {
    let token = hex::encode(random_bytes::<32>());
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

thread_local! {
    /// This thread's argon2 working memory, kept and reused: allocating and
    /// freeing ~19 MiB per check leaves it in the allocator's arenas, many
    /// times over under a flood of logins.
    static ARGON2_MEMORY: RefCell<Vec<argon2::Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2 of `password` and `salt` into `out`, in this thread's memory.
fn argon2_into(
    algorithm: argon2::Algorithm,
    version: argon2::Version,
    params: argon2::Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        let needed = params.block_count();
        if memory.len() < needed {
            memory.resize(needed, argon2::Block::default());
        }
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt,
            out,
            &mut memory[..needed],
        )
    })
}

/// argon2id with the default parameters, in a PHC string. Slow on purpose:
/// run it in the password pool.
pub fn hash_password(password: &str) -> String {
    let params = argon2::Params::default();
    let salt: [u8; 16] = random_bytes();
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
        password.as_bytes(),
        &salt,
        &mut out,
    )
    .expect("argon2 with default parameters");
    let phc = argon2::PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: (&params).try_into().expect("default parameters in PHC form"),
        salt: Some(argon2::password_hash::phc::Salt::new(&salt).expect("a 16-byte salt")),
        hash: Some(argon2::password_hash::phc::Output::new(&out).expect("a 32-byte output")),
    };
    phc.to_string()
}

/// A hash of the default cost that no password is checked true against:
/// what a missing user's password is checked against.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("sipprov-dummy-password"));

/// Makes the dummy hash now, so the first login for a missing user costs
/// what every other does.
pub fn prepare_dummy_hash() {
    LazyLock::force(&DUMMY_HASH);
}

/// Constant-time check of a password against a stored PHC string. A missing
/// hash (a user who does not exist or cannot log in) is checked against a
/// dummy of the same cost, and the check always runs in full, so the answer
/// takes as long either way.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let matches = || -> Option<bool> {
        let phc = argon2::PasswordHash::new(stored.unwrap_or(DUMMY_HASH.as_str())).ok()?;
        let algorithm = argon2::Algorithm::new(phc.algorithm.as_str()).ok()?;
        let version = argon2::Version::try_from(phc.version.unwrap_or(0x13)).ok()?;
        let params = argon2::Params::try_from(&phc).ok()?;
        let (salt, expected) = (phc.salt?, phc.hash?);
        let mut out = vec![0u8; expected.as_bytes().len()];
        argon2_into(algorithm, version, params, password.as_bytes(), &salt, &mut out).ok()?;
        Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
    };
    // The check runs before `stored` is looked at: `&&` would skip it.
    let matched = matches().unwrap_or(false);
    stored.is_some() && matched
}

fn md5_hex(input: &str) -> String {
    hex::encode(Md5::digest(input.as_bytes()))
}

/// FreeSWITCH's a1-hash for `extn`: md5(extn:domain:password).
pub fn ha1(extn: &str, domain: &str, password: &str) -> String {
    md5_hex(&format!("{extn}:{domain}:{password}"))
}

/// The variant for phones that send `extn@domain` as the user name.
pub fn ha1b(extn: &str, domain: &str, password: &str) -> String {
    md5_hex(&format!("{extn}@{domain}:{domain}:{password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_matches_the_xswitch_sample() {
        // From XSwitch's documented admin row.
        assert_eq!(
            ha1("admin", "demo.xswitch.cn", "admin"),
            "fd4500fcb6ccd4ee87d5debac892ac59"
        );
        assert_eq!(ha1b("admin", "xswitch.cn", "admin"), "747e17632f2443bfdbef0113eba4a266");
        // RFC 2617's example HA1.
        assert_eq!(
            ha1("Mufasa", "testrealm@host.com", "Circle Of Life"),
            "939e7578ed9e3c518a452acee763bce9"
        );
    }

    #[test]
    fn secret_box_round_trip_and_binding() {
        let sb = SecretBox::from_key(&[7u8; 32]);
        let sealed = sb.encrypt("s3cret", "1001@xswitch.cn");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(sb.decrypt(&sealed, "1001@xswitch.cn").unwrap(), "s3cret");
        assert!(sb.decrypt(&sealed, "1002@xswitch.cn").is_err(), "wrong AAD must fail");
        assert!(
            SecretBox::from_key(&[8u8; 32])
                .decrypt(&sealed, "1001@xswitch.cn")
                .is_err()
        );
        assert_ne!(sealed, sb.encrypt("s3cret", "1001@xswitch.cn"), "fresh nonce each time");
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::load_or_create(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = SecretBox::load_or_create(None, dir.path()).unwrap();
        assert_eq!(b.decrypt(&a.encrypt("x", "y"), "y").unwrap(), "x");
        assert!(SecretBox::load_or_create(Some("short"), dir.path()).is_err());
    }

    #[test]
    fn passwords_verify_and_tokens_hash() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
        assert!(!verify_password("anything", None));
        assert!(!verify_password("anything", Some("not a PHC string")));
        // Hashes the argon2 crate made itself, as earlier versions stored
        // them, still verify; and the crate verifies ours.
        use argon2::{PasswordHasher, PasswordVerifier};
        let stored = Argon2::default().hash_password(b"old password").unwrap().to_string();
        assert!(verify_password("old password", Some(&stored)));
        assert!(!verify_password("old passwore", Some(&stored)));
        let ours = argon2::PasswordHash::new(&h).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &ours).is_ok());
        let (token, hash) = new_token();
        assert_eq!(token.len(), 64);
        assert_eq!(token_hash(&token), hash);
        let p = random_password(20);
        assert_eq!(p.len(), 20);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
