//! The console's two languages. The browser's preference decides, until the
//! admin picks one with the switch (a cookie).

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::header::{ACCEPT_LANGUAGE, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde_json::Value;

const LANG_COOKIE: &str = "sipprov_lang";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        if code.starts_with("zh") {
            Some(Lang::Zh)
        } else if code.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first language of `Accept-Language` (by weight) that the console has.
    fn from_accept_language(header: &str) -> Option<Lang> {
        let mut ranked: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let lang = Lang::parse(pieces.next()?)?;
                let weight = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some((weight, lang))
            })
            .collect();
        // A stable sort keeps the browser's order among equal weights.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|(_, lang)| *lang)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let chosen = CookieJar::from_headers(&parts.headers)
            .get(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()));
        let preferred = || {
            parts
                .headers
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        };
        Ok(chosen.or_else(preferred).unwrap_or_default())
    }
}

/// `/ui/lang/{en|zh}?to=/ui/…`: remembers the choice and goes back.
pub async fn switch(Path(code): Path<String>, Query(query): Query<HashMap<String, String>>) -> Response {
    let to = query
        .get("to")
        .filter(|to| is_console_path(to))
        .map_or("/ui/", String::as_str);
    let Some(lang) = Lang::parse(&code) else {
        return Redirect::to(to).into_response();
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/ui; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    (AppendHeaders([(SET_COOKIE, cookie)]), Redirect::to(to)).into_response()
}

/// Only a path of the console itself, so the switch cannot send anyone elsewhere.
pub fn is_console_path(to: &str) -> bool {
    to.starts_with("/ui/") && !to.contains("//") && !to.contains('\\') && !to.chars().any(char::is_control)
}

/// Links that switch to each language and come back to `here`.
pub fn switch_links(here: &str) -> Value {
    let back = form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
    serde_json::json!({
        "en": format!("/ui/lang/en?to={back}"),
        "zh": format!("/ui/lang/zh?to={back}"),
    })
}

/// Every label of a language, for the templates.
pub fn labels(lang: Lang) -> Value {
    Value::Object(
        LABELS
            .iter()
            .map(|(key, en, zh)| {
                let text = if lang == Lang::Zh { zh } else { en };
                ((*key).to_string(), Value::String((*text).to_string()))
            })
            .collect(),
    )
}

/// One label; the key itself if there is none.
pub fn text(lang: Lang, key: &str) -> &str {
    lookup(lang, key).unwrap_or(key)
}

pub fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    LABELS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, en, zh)| if lang == Lang::Zh { *zh } else { *en })
}

/// Why a phone got no file, as stored (English), in the console's language.
pub fn reason(lang: Lang, stored: &str) -> &str {
    match lang {
        Lang::En => stored,
        Lang::Zh => crate::provision::reason::in_chinese(stored),
    }
}

/// What a setting holds, in the console's language: the settings' own
/// text (`provision::settings::KEYS`) in English, this table's in Chinese.
pub fn setting_hint(lang: Lang, key: &str, english: &'static str) -> &'static str {
    match lang {
        Lang::En => english,
        Lang::Zh => SETTING_HINTS_ZH
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(english, |(_, zh)| *zh),
    }
}

/// (setting, its hint in Chinese).
const SETTING_HINTS_ZH: &[(&str, &str)] = &[
    (
        "sip_server_host",
        "话机注册的 SIP 服务器（默认：话机访问 sipprov 所用的主机）",
    ),
    ("sip_server_port", "SIP 服务器端口，1-65535（默认 5060）"),
    ("transport", "udp、tcp 或 tls（默认 udp）"),
    ("ntp_server", "NTP 服务器（默认 pool.ntp.org）"),
    (
        "time_zone",
        "IANA 时区，如 Europe/Berlin 或 Asia/Shanghai（含夏令时），或相对 UTC 的偏移：+8、-5、+5:30（默认 +8）",
    ),
    ("language", "话机显示语言：en、zh-CN、de、fr……（默认 en）"),
    (
        "phone_admin_password",
        "话机自身的管理员密码；加密保存，显示为 ********",
    ),
    (
        "resync_interval",
        "话机两次检查新配置之间的分钟数，5-10080（默认 1440）",
    ),
    (
        "allowed_networks",
        "允许话机获取配置的网段，逗号分隔，如 10.0.0.0/8, 192.168.1.0/24（默认：不限）；仅站点级",
    ),
    (
        "auth_mode",
        "off、basic 或 digest：话机获取含 SIP 密码的文件时如何验证身份（默认 off）",
    ),
    (
        "throttle_unknown_macs",
        "同一网段（/24 或 /64）10 分钟内可请求的不同未知 MAC 数，超过后等待 10 分钟，1-100000（默认 100）；仅站点级",
    ),
    (
        "throttle_wrong_credentials",
        "同一网段 10 分钟内可发送的错误话机凭据次数，超过后等待 10 分钟，1-10000（默认 20）；仅站点级",
    ),
    (
        "push_rate",
        "推送变更时每分钟发出的 SIP NOTIFY 总数，1-6000（默认 50）；仅站点级",
    ),
    (
        "push_network_rate",
        "推送变更时每分钟发往同一网段（/24 或 /64）的 SIP NOTIFY 数，1-6000（默认 5）；仅站点级",
    ),
    (
        "push_confirm_minutes",
        "应答推送的话机须在多少分钟内获取文件，否则列为未确认，1-1440（默认 10）；仅站点级",
    ),
    (
        "push_on_change",
        "on 或 off：影响话机的变更在平静 10 秒后自动推送给话机（默认 off）；仅站点级",
    ),
    (
        "push_via",
        "direct（sipprov 直接向话机发送 NOTIFY）或 freeswitch（由 XSwitch 的 FreeSWITCH 通过话机注册发送）（默认 direct）；仅站点级",
    ),
    (
        "freeswitch_esl",
        "FreeSWITCH 事件套接字，host:port（默认 127.0.0.1:8021）；仅站点级",
    ),
    (
        "freeswitch_esl_password",
        "事件套接字的密码（默认 FreeSWITCH 自带的 ClueCon）；加密保存；仅站点级",
    ),
    (
        "freeswitch_profile",
        "话机注册所在的 SIP profile（默认 internal）；仅站点级",
    ),
    (
        "phone_sip_port",
        "话机接收 SIP NOTIFY 的端口，1-65535（默认 5060，transport 为 tls 时 5061）",
    ),
    (
        "phone_sip_address",
        "话机接收 SIP NOTIFY 的地址，IP 地址，可带端口（默认：其上次获取配置的地址）",
    ),
    ("auth_username", "话机验证身份所用的用户名"),
    ("auth_password", "话机验证身份所用的密码；加密保存"),
    ("auth_password_previous", "话机改用新密码期间仍接受的旧密码；加密保存"),
];

/// (key, English, Chinese).
const LABELS: &[(&str, &str, &str)] = &[
    ("devices", "Devices", "话机"),
    ("import", "Import", "导入"),
    ("pending", "Pending phones", "待认领话机"),
    ("extensions", "Extensions", "分机"),
    ("keys", "Keys", "按键"),
    ("key_templates", "Key templates", "按键模板"),
    ("key_template", "Key template", "按键模板"),
    ("new_key_template", "New key template", "新建按键模板"),
    ("key_slot", "Slot", "位置"),
    ("key_type", "Type", "类型"),
    ("key_value", "Value", "值"),
    ("key_label", "Label", "标签"),
    ("key_count", "Keys", "按键数"),
    ("no_template", "No template", "不使用模板"),
    ("keys_of_device", "Keys of", "按键："),
    (
        "keys_hint",
        "Slot N is the phone's Nth programmable key, then its expansion modules' keys. A key of the device replaces the template's key in the same slot. Leave a row's type empty to drop it.",
        "位置 N 是话机的第 N 个可编程按键，之后是扩展模块的按键。话机自己的按键会替换模板中相同位置的按键。类型留空即删除该行。",
    ),
    ("effective_keys", "What the phone gets", "话机实际得到的按键"),
    ("key_type_line", "Line", "线路"),
    ("key_type_blf", "BLF", "BLF 忙灯"),
    ("key_type_speed_dial", "Speed dial", "快速拨号"),
    ("key_type_park", "Park", "呼叫停泊"),
    ("key_type_pickup", "Pickup", "代接"),
    ("key_type_dnd", "Do not disturb", "免打扰"),
    ("key_type_forward", "Forward", "呼叫转移"),
    ("key_type_voicemail", "Voicemail", "语音信箱"),
    ("key_type_transfer", "Transfer", "转接"),
    ("key_type_url", "URL", "网址"),
    ("settings", "Settings", "配置"),
    ("activity", "Activity", "操作日志"),
    ("resource_check", "Checks", "校验"),
    ("resource_contacts", "Contacts", "联系人"),
    ("resource_device_provisions", "Devices", "话机"),
    ("resource_dicts", "Settings", "配置"),
    ("resource_extensions", "Extensions", "分机"),
    ("resource_extn_alarms", "Sensors", "传感器"),
    ("resource_key_templates", "Key templates", "按键模板"),
    ("resource_logs", "Operation log", "操作日志"),
    ("resource_media_files", "Media files", "媒体文件"),
    ("resource_openapi.json", "API document", "API 文档"),
    ("resource_queues", "Queues", "队列"),
    ("resource_sessions", "Sessions", "会话"),
    ("resource_upload", "Uploads", "上传"),
    ("resource_users", "Users", "用户"),
    ("resource_docs", "API docs", "API 文档"),
    ("action_CREATE", "Create", "创建"),
    ("action_UPDATE", "Update", "修改"),
    ("action_DELETE", "Delete", "删除"),
    ("action_IMPORT", "Import", "导入"),
    ("action_LOGIN", "Log in", "登录"),
    ("action_LOGOUT", "Log out", "登出"),
    ("logout", "Log out", "退出"),
    ("log_in", "Log in", "登录"),
    ("login_hint", "Use your XSwitch account.", "使用 XSwitch 账号登录。"),
    ("login_name", "User name", "用户名"),
    ("password", "Password", "密码"),
    ("back_to_devices", "Back to devices", "返回话机列表"),
    (
        "console_for_admins",
        "The console is for administrators, and this account is not one. Log out and sign in as an administrator.",
        "管理控制台仅供管理员使用，当前账号不是管理员。请退出后以管理员身份登录。",
    ),
    (
        "csrf_refused",
        "This form has expired or came from another site. Reload the page and try again.",
        "表单已失效或来自其他网站，请刷新页面后重试。",
    ),
    ("page", "Page", "第"),
    ("rows", "rows", "条"),
    ("previous", "Previous", "上一页"),
    ("next", "Next", "下一页"),
    ("new_device", "New device", "新增话机"),
    ("edit_device", "Edit device", "编辑话机"),
    ("export_csv", "Export this view (CSV)", "导出当前列表 (CSV)"),
    ("search", "Search", "搜索"),
    ("search_extensions", "Number contains", "号码包含"),
    (
        "free_extensions_only",
        "Only extensions on no phone",
        "仅显示未分配给话机的分机",
    ),
    ("search_in", "Search in", "搜索范围"),
    ("mac", "MAC", "MAC"),
    ("name", "Name", "名称"),
    ("vendor", "Vendor", "供应商"),
    ("model", "Model", "型号"),
    ("extn", "Extensions", "分机号"),
    ("last_provisioned", "Last provisioned", "最近配置"),
    ("status", "Status", "状态"),
    ("status_never", "Never fetched", "从未获取"),
    ("status_current", "Has the current config", "已是最新配置"),
    ("status_older", "Has an older config", "配置已过期"),
    ("edit", "Edit", "编辑"),
    ("preview", "Preview", "预览"),
    (
        "no_devices",
        "No devices yet. Create one, import a MAC list, or claim a pending phone.",
        "还没有话机。可新增、导入 MAC 列表，或认领待认领话机。",
    ),
    (
        "lines_hint",
        "Extension numbers, one per line key, separated by commas.",
        "分机号，每个线路一个，用逗号分隔。",
    ),
    ("save", "Save", "保存"),
    ("cancel", "Cancel", "取消"),
    ("delete", "Delete", "删除"),
    (
        "confirm_delete",
        "Delete this device? The phone will no longer get its configuration.",
        "确定删除该话机？删除后话机将无法获取配置。",
    ),
    ("select", "Select", "选择"),
    ("showing", "Showing phones that", "仅显示："),
    ("show_all", "Show all", "显示全部"),
    ("push", "Push", "推送"),
    ("push_now", "Push config now", "立即推送配置"),
    ("timeline", "Timeline", "时间线"),
    ("unknown_files", "Files no pack knows", "无法识别的文件"),
    (
        "unknown_files_hint",
        "The latest fetches of file names no vendor pack serves, newest first (the last 100 this server saw): a phone asking for one has a wrong provisioning URL or file name. `sipprov explain` shows why any fetch is answered as it is.",
        "最近请求的、没有任何厂商包提供的文件名，最新的在前（本服务器最近 100 条）：请求这些文件的话机，其配置地址或文件名有误。`sipprov explain` 可逐步说明任一请求的处理结果。",
    ),
    ("no_unknown_files", "None lately.", "最近没有。"),
    ("file", "File", "文件"),
    ("user_agent", "User-Agent", "User-Agent"),
    ("import_action", "Does", "操作"),
    ("new_phone", "New phone", "新话机"),
    ("more_lines", "More lines for a phone", "为已有话机增加线路"),
    ("warnings", "Look at", "注意"),
    (
        "timeline_hint",
        "The phone's fetches, the changes to this record and the pushes to it, newest first.",
        "话机的获取、此记录的修改和推送，最新的在前。",
    ),
    (
        "timeline_empty",
        "Nothing yet: the phone has not fetched, and nobody has changed or pushed to it.",
        "暂无记录：话机尚未获取配置，也没有修改或推送。",
    ),
    ("event_fetch", "Fetch", "获取"),
    ("event_change", "Change", "修改"),
    ("event_push", "Push", "推送"),
    ("event_what", "What", "内容"),
    ("event_outcome", "Outcome", "结果"),
    ("event_detail", "Detail", "详情"),
    (
        "push_selected",
        "Push config to the selected phones",
        "向所选话机推送配置",
    ),
    (
        "push_older",
        "Push config to every phone with an older config",
        "向所有配置已过期的话机推送配置",
    ),
    (
        "confirm_push_older",
        "Tell every phone with an older config to fetch it now? They are told a few at a time, as the push settings say.",
        "通知所有配置已过期的话机立即获取配置？话机将按推送设置分批通知。",
    ),
    (
        "push_under_way",
        "still telling phones; this page refreshes itself",
        "仍在通知话机，本页会自动刷新",
    ),
    (
        "push_hint",
        "Each phone is sent a SIP NOTIFY; it is confirmed once it fetches its files after the push began.",
        "每台话机会收到一条 SIP NOTIFY；推送开始后话机再次获取配置即视为已确认。",
    ),
    ("detail", "Detail", "详情"),
    ("push_queued", "Queued", "排队中"),
    ("push_sent", "Sent", "已发送"),
    ("push_answered", "Answered", "已应答"),
    ("push_no_answer", "No answer", "无应答"),
    ("push_rejected", "Rejected", "被拒绝"),
    ("push_confirmed", "Confirmed", "已确认"),
    ("push_unsupported", "Cannot be told", "不支持"),
    ("push_failed", "Failed", "失败"),
    ("provisioning_urls", "Provisioning URLs", "配置服务器地址"),
    (
        "provisioning_urls_hint",
        "Give phones one of these URLs in DHCP option 66 or on the phone's web page.",
        "通过 DHCP 选项 66 或话机网页把以下任一地址告诉话机。",
    ),
    ("other_vendors", "Other vendors", "其他供应商"),
    ("copy", "Copy", "复制"),
    ("copied", "Copied", "已复制"),
    (
        "no_files",
        "This vendor serves no per-phone files.",
        "该供应商没有按话机生成的文件。",
    ),
    (
        "import_hint",
        "Upload a CSV or XLSX MAC list with a header row: name, extn, vendor, mac (or 名称, 分机号, 供应商, MAC). Nothing is written until you confirm.",
        "上传带表头的 CSV 或 XLSX MAC 列表：name, extn, vendor, mac（或 名称, 分机号, 供应商, MAC）。确认之前不会写入任何数据。",
    ),
    ("check_file", "Check file", "检查文件"),
    ("import_extensions", "Import extensions", "导入分机"),
    (
        "import_extensions_short",
        "CSV or XLSX: number, name, optional password.",
        "CSV 或 XLSX：号码、名称、可选密码。",
    ),
    (
        "import_extensions_hint",
        "Upload a CSV or XLSX list of extensions with a header row: extn, name, password (or 分机号, 名称, 密码). A blank password is generated. Nothing is written until you confirm.",
        "上传带表头的 CSV 或 XLSX 分机列表：extn, name, password（或 分机号, 名称, 密码）。密码留空则自动生成。确认之前不会写入任何数据。",
    ),
    (
        "extensions_will_be_created",
        "extensions will be created.",
        "个分机将被创建。",
    ),
    ("extensions_to_create", "Extensions to create", "将创建的分机"),
    ("number", "Number", "号码"),
    ("dry_run_report", "Dry-run report", "预检报告"),
    (
        "nothing_written",
        "Nothing was written. Fix these rows and upload the file again.",
        "未写入任何数据。请修正以下行后重新上传。",
    ),
    ("row", "Row", "行"),
    ("column", "Column", "列"),
    ("value", "Value", "值"),
    ("reason", "Reason", "原因"),
    ("rows_will_be_created", "devices will be created.", "台话机将被创建。"),
    ("confirm_import", "Confirm import", "确认导入"),
    ("rows_to_create", "Devices to create", "将创建的话机"),
    ("more_rows", "more", "条未显示"),
    (
        "pending_hint",
        "Phones that asked for a configuration but have no device record. Claim one to give it extensions.",
        "请求过配置但尚未登记的话机。认领后即可为其分配分机。",
    ),
    ("ip", "IP", "IP"),
    ("last_seen", "Last seen", "最近请求"),
    ("first_seen", "first", "首次"),
    ("fetches", "Requests", "请求次数"),
    ("claim", "Claim", "认领"),
    (
        "no_pending",
        "No unknown phones have asked for a configuration.",
        "没有未登记的话机请求过配置。",
    ),
    ("pick_extensions", "Extensions for its lines", "线路分机"),
    ("no_extensions", "No extensions yet.", "还没有分机。"),
    ("new_extension", "New extension", "新增分机"),
    ("new_range", "New range of extensions", "批量新增分机"),
    ("range_start", "First number", "起始号码"),
    ("range_end", "Last number", "结束号码"),
    ("password_generated", "leave empty to generate one", "留空则自动生成"),
    (
        "password_generated_each",
        "leave empty to generate one for each",
        "留空则为每个分机自动生成",
    ),
    ("create", "Create", "创建"),
    ("domain", "Domain", "域"),
    ("state", "State", "状态"),
    ("enabled", "Enabled", "启用"),
    ("disabled", "Disabled", "禁用"),
    ("edit_extension", "Edit extension", "编辑分机"),
    ("caller_id_name", "Caller ID name", "主叫名称"),
    ("caller_id_number", "Caller ID number", "主叫号码"),
    ("reset_password", "Reset password", "重置密码"),
    (
        "reset_password_hint",
        "A new random SIP password; phones get it on their next fetch.",
        "生成新的随机 SIP 密码，话机下次获取配置时生效。",
    ),
    (
        "confirm_reset",
        "Give this extension a new SIP password?",
        "确定为该分机生成新的 SIP 密码？",
    ),
    (
        "new_password_is",
        "The new SIP password (shown once):",
        "新的 SIP 密码（仅显示一次）：",
    ),
    (
        "settings_hint",
        "What every phone gets. A change applies on each phone's next fetch. Empty means the default.",
        "所有话机的配置，话机下次获取配置时生效。留空即使用默认值。",
    ),
    ("default_value", "default", "默认"),
    (
        "secret_unchanged",
        "set; leave empty to keep it",
        "已设置；留空则保持不变",
    ),
    ("not_set", "not set", "未设置"),
    ("setting_sip_server_host", "SIP server", "SIP 服务器"),
    ("setting_sip_server_port", "SIP port", "SIP 端口"),
    ("setting_transport", "Transport", "传输协议"),
    ("setting_ntp_server", "NTP server", "NTP 服务器"),
    ("setting_time_zone", "Time zone", "时区"),
    ("setting_language", "Phone language", "话机语言"),
    ("setting_phone_admin_password", "Phone admin password", "话机管理员密码"),
    (
        "setting_resync_interval",
        "Resync interval (minutes)",
        "重新获取配置间隔（分钟）",
    ),
    (
        "setting_allowed_networks",
        "Networks allowed to fetch",
        "允许获取配置的网段",
    ),
    ("setting_auth_mode", "Phone authentication", "话机认证方式"),
    ("setting_push_rate", "Pushes a minute", "每分钟推送数"),
    (
        "setting_push_network_rate",
        "Pushes a minute per network",
        "每个网段每分钟推送数",
    ),
    (
        "setting_push_confirm_minutes",
        "Minutes to confirm a push",
        "推送确认时限（分钟）",
    ),
    ("setting_push_on_change", "Push changes by themselves", "变更后自动推送"),
    ("setting_push_via", "Push through", "推送方式"),
    (
        "setting_freeswitch_esl",
        "FreeSWITCH event socket",
        "FreeSWITCH 事件套接字",
    ),
    (
        "setting_freeswitch_esl_password",
        "FreeSWITCH event socket password",
        "FreeSWITCH 事件套接字密码",
    ),
    (
        "setting_freeswitch_profile",
        "FreeSWITCH SIP profile",
        "FreeSWITCH SIP 配置",
    ),
    ("setting_phone_sip_port", "Phones' SIP port", "话机 SIP 端口"),
    (
        "setting_throttle_unknown_macs",
        "Throttle after unknown MACs",
        "未知 MAC 限流阈值",
    ),
    (
        "setting_throttle_wrong_credentials",
        "Throttle after wrong credentials",
        "错误凭据限流阈值",
    ),
    ("setting_auth_username", "Phone user name", "话机认证用户名"),
    ("setting_auth_password", "Phone password", "话机认证密码"),
    (
        "setting_auth_password_previous",
        "Previous phone password",
        "旧话机认证密码",
    ),
    ("fleet", "Fleet", "话机概况"),
    (
        "activity_hint",
        "Every change made through the API or this console, newest first.",
        "通过 API 或本控制台所做的每项更改，最新的在前。",
    ),
    ("operator", "Operator", "操作人"),
    ("operator_hint", "login or name", "登录名或姓名"),
    ("resource", "Resource", "资源"),
    ("action", "Action", "操作"),
    ("any", "Any", "全部"),
    ("date_from", "From", "开始日期"),
    ("date_to", "To", "结束日期"),
    (
        "date_format",
        "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (UTC)",
        "YYYY-MM-DD 或 YYYY-MM-DD HH:MM:SS（UTC）",
    ),
    ("filter", "Filter", "筛选"),
    ("time", "Time", "时间"),
    (
        "version",
        "Version: a keyed hash of the file's bytes",
        "版本：文件内容的带密钥哈希",
    ),
    ("summary", "Summary", "摘要"),
    ("no_activity", "No operations match.", "没有符合条件的操作记录。"),
    ("done_created", "Saved.", "已保存。"),
    ("done_updated", "Saved.", "已保存。"),
    ("done_deleted", "Deleted.", "已删除。"),
    ("done_imported", "Imported.", "导入完成。"),
    (
        "done_claimed",
        "The phone is claimed; it gets its configuration on its next fetch.",
        "已认领，话机下次请求时即可获取配置。",
    ),
    (
        "done_settings",
        "Settings saved. Phones get them on their next fetch.",
        "配置已保存，话机下次获取配置时生效。",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_preference_decides_by_weight() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.8"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("fr;q=1, zh-TW;q=0.4, en;q=0.5"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn every_setting_has_its_hint_in_chinese() {
        for (key, _) in crate::provision::settings::KEYS {
            assert!(SETTING_HINTS_ZH.iter().any(|(k, _)| k == key), "{key}");
        }
    }

    #[test]
    fn every_label_has_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::HashSet::new();
        for (key, en, zh) in LABELS {
            assert!(keys.insert(key), "{key} twice");
            assert!(!en.is_empty() && !zh.is_empty(), "{key}");
        }
    }

    #[test]
    fn the_switch_only_returns_into_the_console() {
        assert!(is_console_path("/ui/devices?page=2"));
        for bad in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/ui//evil",
            "/api/sessions",
            "/ui/\\evil",
        ] {
            assert!(!is_console_path(bad), "{bad}");
        }
    }
}
