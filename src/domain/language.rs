//! The phones' display language, as a code (`en`, `zh-CN`, `de`) that each
//! vendor pack maps to its own name for it. Earlier versions stored the
//! name itself (`English`); such names are still read.

/// Each code, with the other names it is known by (lower case).
const LANGUAGES: &[(&str, &[&str])] = &[
    ("en", &["english", "en-us", "en-gb"]),
    (
        "zh-CN",
        &[
            "chinese",
            "中文",
            "简体中文",
            "zh",
            "zh-hans",
            "chinese_s",
            "chinese simplified",
        ],
    ),
    ("zh-TW", &["繁體中文", "zh-hant", "chinese_t", "chinese traditional"]),
    ("de", &["german", "deutsch"]),
    ("fr", &["french", "français", "francais"]),
    ("es", &["spanish", "español", "espanol"]),
    ("it", &["italian", "italiano"]),
    ("pt", &["portuguese", "português", "portugues", "pt-br", "pt-pt"]),
    ("nl", &["dutch", "nederlands"]),
    ("pl", &["polish", "polski"]),
    ("ru", &["russian", "русский"]),
    ("tr", &["turkish", "türkçe", "turkce"]),
    ("cs", &["czech", "čeština", "cestina"]),
    ("ja", &["japanese", "日本語"]),
    ("ko", &["korean", "한국어"]),
];

/// The code for a setting's value, or why it is not one.
pub fn code(value: &str) -> Result<&'static str, String> {
    let wanted = value.trim().to_lowercase();
    LANGUAGES
        .iter()
        .find(|(code, names)| code.to_lowercase() == wanted || names.contains(&wanted.as_str()))
        .map(|(code, _)| *code)
        .ok_or_else(|| {
            let codes: Vec<&str> = LANGUAGES.iter().map(|(c, _)| *c).collect();
            format!(
                "'{}' is not a language code; use one of {}",
                value.trim(),
                codes.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_the_names_earlier_versions_stored() {
        assert_eq!(code("de"), Ok("de"));
        assert_eq!(code("ZH-cn"), Ok("zh-CN"));
        assert_eq!(code("English"), Ok("en"));
        assert_eq!(code(" Deutsch "), Ok("de"));
        assert_eq!(code("中文"), Ok("zh-CN"));
        let err = code("Klingon").unwrap_err();
        assert!(
            err.contains("'Klingon' is not a language code") && err.contains("zh-CN"),
            "{err}"
        );
    }
}
