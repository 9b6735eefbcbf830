//! Why a phone got no file: the words its timeline and the pending list
//! store, in English, and the console's Chinese for each.

pub const NO_SUCH_FILE: &str = "its pack has no file of this name for this phone";
pub const OUTSIDE_NETWORKS: &str = "its address is outside the allowed networks";
pub const WRONG_CREDENTIALS: &str = "wrong credentials (or a stale nonce)";
pub const CREDENTIALS_THROTTLED: &str = "its network gave wrong credentials too often and waits";
pub const NOT_RENDERED: &str = "the file could not be rendered in time; the phone retries";
pub const SECRETS_OVER_TFTP: &str = "a file with passwords is not served over TFTP (tftp_serve_secrets is off)";
pub const MODEL_REFUSED: &str =
    "its model (its record's, else the one its User-Agent names) is one its pack does not write (docs/vendors.md)";
pub const NO_RECORD: &str = "no record has its MAC";
pub const NO_RECORD_THROTTLED: &str =
    "no record has its MAC, and its network waits: it asked for too many unknown MACs or gave wrong credentials";

/// Every reason, with its Chinese.
const IN_CHINESE: [(&str, &str); 9] = [
    (NO_SUCH_FILE, "其厂商配置包没有为此话机提供这个文件名"),
    (OUTSIDE_NETWORKS, "其地址不在允许的网络内"),
    (WRONG_CREDENTIALS, "凭据错误（或 nonce 已过期）"),
    (CREDENTIALS_THROTTLED, "其网络多次给出错误凭据，正在等待"),
    (NOT_RENDERED, "文件未能及时生成，话机会重试"),
    (
        SECRETS_OVER_TFTP,
        "含密码的文件不通过 TFTP 提供（tftp_serve_secrets 已关闭）",
    ),
    (
        MODEL_REFUSED,
        "其型号（记录中的，否则其 User-Agent 表明的）不受其厂商配置包支持（见 docs/vendors.md）",
    ),
    (NO_RECORD, "没有记录使用此 MAC"),
    (
        NO_RECORD_THROTTLED,
        "没有记录使用此 MAC，且其网络正在等待：请求了过多未知 MAC，或给出了错误凭据",
    ),
];

/// A stored reason in Chinese; one it does not know (from an older
/// version) as stored.
pub fn in_chinese(reason: &str) -> &str {
    IN_CHINESE
        .iter()
        .find(|(english, _)| *english == reason)
        .map_or(reason, |(_, chinese)| chinese)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_chinese() {
        let mut english: Vec<&str> = IN_CHINESE.iter().map(|(e, _)| *e).collect();
        english.sort_unstable();
        english.dedup();
        assert_eq!(english.len(), IN_CHINESE.len());
        assert_eq!(in_chinese(NO_RECORD), "没有记录使用此 MAC");
        assert_eq!(in_chinese("something new"), "something new");
    }
}
