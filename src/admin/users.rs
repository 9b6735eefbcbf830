//! Users who log in, and the call-centre agents among them: the rules of
//! every create, update, delete and password change, whichever door asks.
//! Agents are users of type `AGENT`, whose mod_callcenter settings live in
//! `agent_info`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::extensions::{DEFAULT_CONTEXT, DEFAULT_DOMAIN, ExtensionInput, check_sip_password, new_fields, text_or};
use super::lenient;
use super::log::{Action, message};
use super::{Actor, Admin, Error, Result};
use crate::domain::timestamp;
use crate::secrets::{self, SecretBox};
use crate::store::agents::{User, UserFields};
use crate::store::logs::Summary;
use crate::store::{self, Constraint, OrTaken};
use crate::workers::Priority;

const RESOURCE: &str = "users";

/// A new user's id and its extension's (0 without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCreated {
    pub id: i64,
    pub extn_id: i64,
}

impl Admin {
    pub async fn create_user(&self, actor: &Actor, input: UserInput) -> Result<UserCreated> {
        let log = actor.entry(RESOURCE, Action::Create, Summary::Id, message(&input, &[]));
        let login = required_text(input.login.clone(), "login")?;
        check_login(&login)?;
        let password = required_text(input.password.clone(), "password")?;
        check_password(&password, &login)?;
        let kind = user_type(input.kind.as_deref())?.unwrap_or_else(|| "NORMAL".into());
        let mut agent_info = Map::new();
        if kind == "AGENT" {
            for (k, v) in AGENT_DEFAULTS {
                agent_info.insert((*k).into(), Value::String((*v).into()));
            }
        }
        merge_agent_info(&mut agent_info, &input)?;
        let domain = text_or(input.domain.clone(), DEFAULT_DOMAIN);
        let context = text_or(input.context.clone(), DEFAULT_CONTEXT);
        let name = text_or(input.name.clone(), &login);
        let extn = input.extn.clone().map(|e| e.trim().to_string()).unwrap_or_default();
        // Checked even without an extension, so the same value is refused alike.
        if let Some(given) = input.extn_password.as_deref().filter(|p| !p.is_empty()) {
            check_sip_password(given, &extn).map_err(|e| e.renamed_field("password", "extn_password"))?;
        }
        let extension = if extn.is_empty() {
            None
        } else {
            let one = ExtensionInput {
                extn: Some(extn.clone()),
                name: Some(name.clone()),
                password: input
                    .extn_password
                    .clone()
                    .filter(|p| !p.is_empty())
                    .or(Some(password.clone())),
                domain: Some(domain.clone()),
                context: Some(context.clone()),
                cid_name: input.cid_name.clone(),
                cid_number: input.cid_number.clone(),
                ..Default::default()
            };
            Some(
                new_fields(self, one)
                    .await
                    .map_err(|e| e.renamed_field("password", "extn_password"))?,
            )
        };
        let sip_user = if extn.is_empty() { &login } else { &extn };
        let fields = UserFields {
            login: login.clone(),
            name,
            kind,
            is_super: input.is_super.unwrap_or(0),
            disabled: input.disabled.unwrap_or(0),
            extn: extn.clone(),
            extn_id: 0,
            cid_name: input.cid_name.clone().unwrap_or_default(),
            cid_number: input.cid_number.clone().unwrap_or_default(),
            ha1: secrets::ha1(sip_user, &domain, &password),
            ha1b: secrets::ha1b(sip_user, &domain, &password),
            context,
            domain: domain.clone(),
            email: input.email.clone().unwrap_or_default(),
            tel: input.tel.clone().unwrap_or_default(),
            tel_enabled: input.tel_enabled.unwrap_or(0),
            auto_record: input.auto_record.unwrap_or(0),
            vm_password_enc: seal_vm_password(&self.secrets, input.vm_password.as_deref()),
            agent_info: Value::Object(agent_info).to_string(),
        };
        let hash = self.hash_password(password).await?;
        let (id, extn_id) = self
            .db
            .create_user(fields, &hash, extension.as_ref(), timestamp::now(), &log)
            .await
            .map_err(|err| match err {
                store::Error::Unique(Constraint::ExtensionNumber) => {
                    Error::conflict("extn", format!("{extn} already exists in domain {domain}"))
                }
                store::Error::Unique(Constraint::UserLogin) => {
                    Error::conflict("login", format!("'{login}' already exists"))
                }
                other => other.into(),
            })?;
        Ok(UserCreated { id, extn_id })
    }

    /// Changes the fields given of user `id`. A user who is not an
    /// administrator may set only its own agent status.
    pub async fn update_user(&self, actor: &Actor, id: i64, input: UserInput) -> Result<()> {
        let own_status = input.sets_status_only() && actor.user_id == id;
        if !actor.admin && !own_status {
            return Err(Error::Forbidden(
                "changing a user needs an administrator; a user may set only its own agent status".into(),
            ));
        }
        let log = actor.entry(RESOURCE, Action::Update, Summary::Id, message(&input, &[]));
        let current = self.user(id).await?;
        let mut f = current.fields.clone();
        if let Some(login) = input.login.clone().map(|l| l.trim().to_string()) {
            check_login(&login)?;
            f.login = login;
        }
        if let Some(kind) = user_type(input.kind.as_deref())? {
            f.kind = kind;
        }
        let keep = |given: &Option<String>, old: &mut String| {
            if let Some(v) = given {
                *old = v.trim().to_string();
            }
        };
        keep(&input.name, &mut f.name);
        keep(&input.extn, &mut f.extn);
        keep(&input.domain, &mut f.domain);
        keep(&input.context, &mut f.context);
        keep(&input.cid_name, &mut f.cid_name);
        keep(&input.cid_number, &mut f.cid_number);
        keep(&input.email, &mut f.email);
        keep(&input.tel, &mut f.tel);
        for (given, old) in [
            (input.tel_enabled, &mut f.tel_enabled),
            (input.auto_record, &mut f.auto_record),
            (input.disabled, &mut f.disabled),
            (input.is_super, &mut f.is_super),
        ] {
            if let Some(v) = given {
                *old = v;
            }
        }
        if input.vm_password.is_some() {
            f.vm_password_enc = seal_vm_password(&self.secrets, input.vm_password.as_deref());
        }
        let mut agent_info = match serde_json::from_str(&f.agent_info) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        merge_agent_info(&mut agent_info, &input)?;
        f.agent_info = Value::Object(agent_info).to_string();
        if f.name.is_empty() {
            f.name = f.login.clone();
        }
        let password = input.password.clone().filter(|p| !p.is_empty());
        if let Some(p) = &password {
            check_password(p, &f.login)?;
        }
        // ha1/ha1b need the password: without it, a new number or domain
        // leaves them empty until the next password change.
        let sip_user = if f.extn.is_empty() {
            f.login.clone()
        } else {
            f.extn.clone()
        };
        if let Some(p) = &password {
            f.ha1 = secrets::ha1(&sip_user, &f.domain, p);
            f.ha1b = secrets::ha1b(&sip_user, &f.domain, p);
        } else if f.extn != current.fields.extn || f.domain != current.fields.domain || f.login != current.fields.login
        {
            f.ha1.clear();
            f.ha1b.clear();
        }
        let conflict = Error::conflict("login", format!("'{}' already exists", f.login));
        if !self
            .db
            .update_user(id, &f, timestamp::now(), &log)
            .await
            .or_taken(Constraint::UserLogin, || conflict)?
        {
            return Err(user_not_found(id));
        }
        if let Some(p) = password {
            let hash = self.hash_password(p).await?;
            let log = actor.entry(
                RESOURCE,
                Action::Update,
                Summary::Text("password changed".into()),
                "{}".into(),
            );
            self.db
                .set_user_password(id, &hash, None, timestamp::now(), &log)
                .await?;
        }
        Ok(())
    }

    /// Deletes a user, with its queue memberships and sessions; its
    /// extensions stay, unowned. Users 0 (system) and 1 (admin) stay.
    pub async fn delete_user(&self, actor: &Actor, id: i64) -> Result<()> {
        if id == 0 || id == 1 {
            return Err(Error::Forbidden(format!(
                "user {id} ({}) cannot be deleted",
                if id == 0 { "system" } else { "admin" }
            )));
        }
        let log = actor.entry(RESOURCE, Action::Delete, Summary::Id, format!("{{\"id\":{id}}}"));
        if !self.db.delete_user(id, timestamp::now(), &log).await? {
            return Err(user_not_found(id));
        }
        Ok(())
    }

    /// Sets a user's password (its own, the session's when `id` is absent)
    /// and signs it out everywhere. A user proves its old password; an
    /// administrator resetting another's may leave it out, but one it gives
    /// must be right.
    pub async fn change_password(&self, actor: &Actor, change: PasswordChange) -> Result<()> {
        let id = change.id.unwrap_or(actor.user_id);
        let resets_another = id != actor.user_id;
        if resets_another && !actor.admin {
            return Err(Error::Forbidden(
                "changing another user's password needs an administrator".into(),
            ));
        }
        let log = actor.entry(RESOURCE, Action::Update, Summary::Id, message(&change, &[]));
        let target = self.user(id).await?;
        let password = required_text(change.password, "password")?;
        check_password(&password, &target.fields.login)?;
        let old = change.old_password.filter(|p| !p.is_empty());
        if old.is_some() || !resets_another {
            let old = old.unwrap_or_default();
            let hash = self.db.password_hash(id).await?;
            let matches = self
                .passwords
                .run(Priority::First, move || secrets::verify_password(&old, hash.as_deref()))
                .await?;
            if !matches {
                return Err(Error::Denied {
                    field: "old_password".into(),
                    reason: "wrong password".into(),
                });
            }
        }
        let f = &target.fields;
        let sip_user = if f.extn.is_empty() { &f.login } else { &f.extn };
        let (ha1, ha1b) = (
            secrets::ha1(sip_user, &f.domain, &password),
            secrets::ha1b(sip_user, &f.domain, &password),
        );
        let hash = self.hash_password(password).await?;
        if !self
            .db
            .set_user_password(id, &hash, Some((&ha1, &ha1b)), timestamp::now(), &log)
            .await?
        {
            return Err(user_not_found(id));
        }
        Ok(())
    }

    /// Adds a user with a login password (the command line's `user add`).
    pub async fn add_user(&self, actor: &Actor, login: &str, name: &str, password: String, admin: bool) -> Result<i64> {
        check_login(login)?;
        check_password(&password, login)?;
        let change = serde_json::json!({"login": login, "name": name, "is_super": admin});
        let log = actor.entry(RESOURCE, Action::Create, Summary::Id, message(&change, &[]));
        let hash = self.hash_password(password).await?;
        self.db
            .add_user(login, name, &hash, admin, timestamp::now(), &log)
            .await
            .or_taken(Constraint::UserLogin, || {
                Error::conflict("login", format!("'{login}' already exists"))
            })
    }

    /// Sets a login's password by name (the command line's `set-password`)
    /// and signs it out everywhere.
    pub async fn set_password(&self, actor: &Actor, login: &str, password: String) -> Result<()> {
        check_password(&password, login)?;
        let change = serde_json::json!({"login": login});
        let log = actor.entry(
            RESOURCE,
            Action::Update,
            Summary::Text("password set".into()),
            message(&change, &[]),
        );
        let hash = self.hash_password(password).await?;
        if !self.db.set_password(login, &hash, timestamp::now(), &log).await? {
            return Err(Error::NotFound(format!(
                "no user '{login}' (user 'system' cannot have a password)"
            )));
        }
        Ok(())
    }

    /// Issues a new developer key for a login (replacing the old one) and
    /// returns it; only its hash is kept.
    pub async fn issue_dev_key(&self, actor: &Actor, login: &str) -> Result<String> {
        let (key, hash) = secrets::new_token();
        let change = serde_json::json!({"login": login});
        let log = actor.entry(
            RESOURCE,
            Action::Update,
            Summary::Text("developer key issued".into()),
            message(&change, &[]),
        );
        if !self.db.set_dev_key(login, &hash, timestamp::now(), &log).await? {
            return Err(Error::NotFound(format!("no user '{login}'")));
        }
        Ok(key)
    }

    /// Ends every lock and count wrong passwords put on a login name, from
    /// every network; returns how many networks had one.
    pub async fn unlock_login(&self, actor: &Actor, login: &str) -> Result<u64> {
        let change = serde_json::json!({"login": login});
        let log = actor.entry(
            "sessions",
            Action::Update,
            Summary::Text(format!("{login} unlocked")),
            message(&change, &[]),
        );
        Ok(self.db.unlock_login(login, timestamp::now(), &log).await?)
    }

    /// A live user.
    pub async fn user(&self, id: i64) -> Result<User> {
        self.db.user(id).await?.ok_or_else(|| user_not_found(id))
    }

    /// argon2 on the password pool, ahead of logins from failing networks.
    async fn hash_password(&self, password: String) -> Result<String> {
        Ok(self
            .passwords
            .run(Priority::First, move || secrets::hash_password(&password))
            .await?)
    }
}

fn user_not_found(id: i64) -> Error {
    Error::NotFound(format!("user {id} not found"))
}

const TYPES: &[&str] = &["NORMAL", "AGENT", "CONFMAN"];

const MIN_PASSWORD: usize = 8;

/// What every new agent starts with (seed 002).
const AGENT_DEFAULTS: &[(&str, &str)] = &[
    ("lag", "2"),
    ("simo", "1"),
    ("status", "On Break"),
    ("agent_type", "callback"),
    ("member_wait", "nowait"),
    ("wrap_up_time", "10"),
    ("max_no_answer", "3"),
    ("busy_delay_time", "60"),
    ("reject_delay_time", "10"),
];

const AGENT_NUMBERS: &[&str] = &[
    "lag",
    "simo",
    "wrap_up_time",
    "max_no_answer",
    "busy_delay_time",
    "reject_delay_time",
    "no_answer_delay_time",
    "timeout",
    "level",
    "position",
];

const STATUSES: &[&str] = &["Out", "Available", "Available (On Demand)", "On Break"];

const AGENT_TYPES: &[&str] = &["callback", "standBy"];

/// The binding a voicemail PIN is sealed with.
const VM_AAD: &str = "users.vm_password";

/// A user as clients send it. Agent settings may come inside `agent_info`
/// (an object, or a JSON string of one) or as keys of their own.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct UserInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = login_schema, required = true, example = "1234")]
    pub login: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub name: Option<String>,
    /// The login password: at least 8 characters, not the login.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = login_password_schema, required = true)]
    pub password: Option<String>,
    /// Creates the user's extension with this number.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = super::extensions::extn_or_none_schema, example = "1234")]
    pub extn: Option<String>,
    /// The extension's SIP password; `password` when absent.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = extn_password_schema)]
    pub extn_password: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "xswitch.cn")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub context: Option<String>,
    /// NORMAL, AGENT or CONFMAN.
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    #[schema(schema_with = user_type_schema, example = "AGENT")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub cid_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub cid_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub tel: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub vm_password: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
    #[schema(schema_with = lenient::flag_schema)]
    pub tel_enabled: Option<i64>,
    #[serde(default, deserialize_with = "lenient::flag")]
    #[schema(schema_with = lenient::flag_schema)]
    pub auto_record: Option<i64>,
    #[serde(default, deserialize_with = "lenient::flag")]
    #[schema(schema_with = lenient::flag_schema)]
    pub disabled: Option<i64>,
    #[serde(default, deserialize_with = "lenient::flag")]
    #[schema(schema_with = lenient::flag_schema)]
    pub is_super: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub agent_info: Option<Value>,
    /// Agent settings given as keys of their own, and anything else (an
    /// `id` in the body is ignored).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

impl UserInput {
    /// Whether the input sets the agent status and nothing else: all a user
    /// may change in its own record.
    pub fn sets_status_only(&self) -> bool {
        // Destructured in full, so a new field must be placed here too.
        let UserInput {
            login,
            name,
            password,
            extn,
            extn_password,
            domain,
            context,
            kind,
            cid_name,
            cid_number,
            email,
            tel,
            vm_password,
            tel_enabled,
            auto_record,
            disabled,
            is_super,
            agent_info,
            other,
        } = self;
        let texts = [
            login,
            name,
            password,
            extn,
            extn_password,
            domain,
            context,
            kind,
            cid_name,
            cid_number,
            email,
            tel,
            vm_password,
        ];
        let nested = match agent_info {
            None | Some(Value::Null) => Some(Map::new()),
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => None,
        };
        let Some(nested) = nested else { return false };
        let keys: Vec<&String> = nested.keys().chain(other.keys()).collect();
        texts.iter().all(|t| t.is_none())
            && [tel_enabled, auto_record, disabled, is_super]
                .iter()
                .all(|f| f.is_none())
            && !keys.is_empty()
            && keys.iter().all(|k| *k == "status")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PasswordChange {
    /// The user; the session's own when absent.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::int_schema)]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub old_password: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = login_password_schema, required = true)]
    pub password: Option<String>,
}

fn seal_vm_password(secrets: &SecretBox, pin: Option<&str>) -> String {
    match pin.map(str::trim).filter(|p| !p.is_empty()) {
        Some(pin) => secrets.encrypt(pin, VM_AAD),
        None => String::new(),
    }
}

/// Adds the agent settings an input carries, checked: from `agent_info`
/// first, then from keys of their own.
fn merge_agent_info(info: &mut Map<String, Value>, input: &UserInput) -> Result<()> {
    let nested = match &input.agent_info {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(text)) if text.trim().is_empty() => Map::new(),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::field("agent_info", "must be a JSON object")),
        },
        Some(_) => return Err(Error::field("agent_info", "must be a JSON object")),
    };
    for (key, value) in nested.iter().chain(input.other.iter()) {
        if let Some((key, value)) = agent_setting(key, value)? {
            info.insert(key.into(), Value::String(value));
        }
    }
    Ok(())
}

/// One agent setting, normalised and checked; `None` for keys that are not
/// agent settings.
fn agent_setting<'k>(key: &'k str, value: &Value) -> Result<Option<(&'k str, String)>> {
    // The docs also spell it warp_up_time.
    let key = if key == "warp_up_time" { "wrap_up_time" } else { key };
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    let field = |reason: String| Error::field(key, reason);
    let checked = match key {
        k if AGENT_NUMBERS.contains(&k) => {
            if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) || text.len() > 9 {
                return Err(field(format!("{value} is not a whole number")));
            }
            text
        }
        "status" => {
            let spaced = text.replace("Available(On Demand)", "Available (On Demand)");
            if !STATUSES.contains(&spaced.as_str()) {
                return Err(field(format!("'{text}' is not one of {}", STATUSES.join(", "))));
            }
            spaced
        }
        "agent_type" => {
            if !AGENT_TYPES.contains(&text.as_str()) {
                return Err(field(format!("'{text}' is not one of {}", AGENT_TYPES.join(", "))));
            }
            text
        }
        "hardware_phone_only" => match text.as_str() {
            "true" | "1" => "true".into(),
            "false" | "0" | "" => "false".into(),
            _ => return Err(field(format!("'{text}' is not true or false"))),
        },
        "member_wait" => {
            if text.is_empty() || text.len() > 64 {
                return Err(field("must be 1 to 64 characters".into()));
            }
            text
        }
        _ => return Ok(None),
    };
    Ok(Some((key, checked)))
}

/// 1 to 64 letters, digits or `._-@`.
fn login_schema() -> utoipa::openapi::schema::Schema {
    let max = lenient::MAX_SAFE_INTEGER;
    lenient::patterned(r"^\s*[\w.@-]{1,64}\s*$", -max, max, false)
}

/// A SIP password, or blank or null for the login password.
fn extn_password_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    let Schema::OneOf(mut one_of) = super::extensions::sip_password_schema() else {
        unreachable!("a password's schema is a oneOf")
    };
    one_of.items.push(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(0))
            .into(),
    );
    Schema::OneOf(one_of)
}

fn login_password_schema() -> utoipa::openapi::schema::Schema {
    lenient::password_schema::<MIN_PASSWORD>(false)
}

/// NORMAL, AGENT or CONFMAN, any case; blank keeps the current one.
fn user_type_schema() -> utoipa::openapi::schema::Schema {
    lenient::choice_schema(TYPES)
}

fn user_type(kind: Option<&str>) -> Result<Option<String>> {
    let Some(kind) = kind.map(|k| k.trim().to_uppercase()).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    if !TYPES.contains(&kind.as_str()) {
        return Err(Error::field(
            "type",
            format!("'{kind}' is not one of {}", TYPES.join(", ")),
        ));
    }
    Ok(Some(kind))
}

fn check_login(login: &str) -> Result<()> {
    if login.is_empty()
        || login.chars().count() > 64
        || !login.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        return Err(Error::field(
            "login",
            format!("'{login}' must be 1 to 64 letters, digits or . _ - @"),
        ));
    }
    Ok(())
}

/// The rules a login password must meet, each named when broken.
fn check_password(password: &str, login: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::field(
            "password",
            format!("too short: at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.eq_ignore_ascii_case(login) {
        return Err(Error::field("password", "must not equal the login"));
    }
    if password.chars().any(char::is_control) || password.chars().count() > 128 {
        return Err(Error::field("password", "must be printable and at most 128 characters"));
    }
    Ok(())
}

fn required_text(value: Option<String>, field: &str) -> Result<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::field(field, "required"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agent_settings_are_normalised_or_refused_by_name() {
        let ok = |k: &str, v: Value| agent_setting(k, &v).unwrap().map(|(k, v)| (k.to_string(), v));
        assert_eq!(ok("lag", json!(5)), Some(("lag".into(), "5".into())));
        assert_eq!(
            ok("warp_up_time", json!("12")),
            Some(("wrap_up_time".into(), "12".into()))
        );
        assert_eq!(
            ok("status", json!("Available(On Demand)")),
            Some(("status".into(), "Available (On Demand)".into()))
        );
        assert_eq!(
            ok("hardware_phone_only", json!(true)),
            Some(("hardware_phone_only".into(), "true".into()))
        );
        assert_eq!(ok("name", json!("x")), None, "not an agent setting");
        for (k, v) in [
            ("simo", json!("two")),
            ("status", json!("Busy")),
            ("agent_type", json!("push")),
        ] {
            let err = agent_setting(k, &v).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{k}: ")), "{err}");
        }
    }

    #[test]
    fn password_rules_are_named() {
        assert!(
            check_password("short", "bob")
                .unwrap_err()
                .to_string()
                .contains("too short")
        );
        assert!(
            check_password("agent1234", "AGENT1234")
                .unwrap_err()
                .to_string()
                .contains("must not equal the login")
        );
        assert!(check_password("$VeryGoodPassw0rd", "1234").is_ok());
    }
}
