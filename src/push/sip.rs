//! One SIP NOTIFY to one phone, over UDP: a non-INVITE client transaction
//! (RFC 3261 §17.1.2) with its retransmissions, and one authenticated retry
//! when the phone challenges (401/407), as Cisco SPA phones do. Messages are
//! built and read with `rsip`; the digest is its `DigestGenerator`.
//!
//! Each NOTIFY has a socket of its own, connected to the phone: it hears
//! only that phone, answers nothing, and is closed when the NOTIFY ends.

use std::net::SocketAddr;
use std::time::Duration;

use rsip::headers::auth::{Algorithm, AuthQop, Qop, Scheme};
use rsip::prelude::*;
use rsip::services::DigestGenerator;
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep_until, timeout_at};

/// RFC 3261 timers: the first retransmission, the longest gap, and when a
/// transaction with no final answer gives up (64 × T1).
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMER_F: Duration = Duration::from_secs(32);

/// The largest datagram read; SIP over UDP stays well under it.
const MAX_DATAGRAM: usize = 65_507;

/// What to send.
#[derive(Debug, Clone)]
pub struct Notify<'a> {
    pub to: SocketAddr,
    /// The user part of the request URI: the phone's first line.
    pub user: &'a str,
    pub event: &'a str,
    /// The first line's SIP credentials, for a challenge.
    pub credentials: Option<(&'a str, &'a str)>,
}

/// How the phone answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx.
    Accepted(u16),
    /// Any other final answer, with its reason phrase.
    Refused(u16, String),
    /// No final answer within Timer F.
    Silent,
}

/// Sends `notify` and waits for its final answer.
pub async fn send(notify: &Notify<'_>) -> std::io::Result<Answer> {
    let local: SocketAddr = if notify.to.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid")
    } else {
        "[::]:0".parse().expect("valid")
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(notify.to).await?;
    let me = socket.local_addr()?;
    let call = Call::new(notify, me);
    let mut request = call.request(1, None);
    let mut challenged = false;
    loop {
        let answer = transaction(&socket, &request, &call).await?;
        match answer {
            Final::Status(code, _, challenge) if (code == 401 || code == 407) && !challenged => {
                let (Some(challenge), Some(credentials)) = (challenge, notify.credentials) else {
                    return Ok(Answer::Refused(
                        code,
                        "challenged, and the phone has no line credentials".into(),
                    ));
                };
                challenged = true;
                let authorization = call.authorize(&challenge, credentials, code == 407);
                request = call.request(2, Some(authorization));
            }
            Final::Status(code, _, _) if (200..300).contains(&code) => return Ok(Answer::Accepted(code)),
            Final::Status(code, reason, _) => return Ok(Answer::Refused(code, reason)),
            Final::Silent => return Ok(Answer::Silent),
        }
    }
}

/// One transaction's end.
enum Final {
    Status(u16, String, Option<Box<rsip::typed::WwwAuthenticate>>),
    Silent,
}

/// The fixed parts of the dialog-less NOTIFY.
struct Call {
    uri: String,
    from: String,
    call_id: String,
    me: SocketAddr,
    event: String,
}

impl Call {
    fn new(notify: &Notify<'_>, me: SocketAddr) -> Call {
        let host = host_of(notify.to);
        let user = if notify.user.is_empty() {
            "anonymous"
        } else {
            notify.user
        };
        Call {
            uri: format!("sip:{user}@{host}"),
            from: format!("<sip:sipprov@{}>;tag={}", host_of(me), random_token()),
            call_id: format!("{}@{}", random_token(), host_of(me).trim_matches(['[', ']'])),
            me,
            event: notify.event.to_string(),
        }
    }

    fn request(&self, cseq: u32, authorization: Option<rsip::Header>) -> Vec<u8> {
        let mut headers: rsip::Headers = Default::default();
        headers.push(
            rsip::headers::Via::new(format!(
                "SIP/2.0/UDP {};branch=z9hG4bK{};rport",
                host_of(self.me),
                random_token()
            ))
            .into(),
        );
        headers.push(rsip::headers::MaxForwards::new("70").into());
        headers.push(rsip::headers::From::new(self.from.clone()).into());
        headers.push(rsip::headers::To::new(format!("<{}>", self.uri)).into());
        headers.push(rsip::headers::CallId::new(self.call_id.clone()).into());
        headers.push(rsip::headers::CSeq::new(format!("{cseq} NOTIFY")).into());
        headers.push(rsip::headers::Event::new(self.event.clone()).into());
        headers.push(rsip::headers::SubscriptionState::new("terminated").into());
        if let Some(authorization) = authorization {
            headers.push(authorization);
        }
        headers.push(rsip::headers::UserAgent::new(concat!("sipprov/", env!("CARGO_PKG_VERSION"))).into());
        headers.push(rsip::headers::ContentLength::new("0").into());
        let request = rsip::Request {
            method: rsip::Method::Notify,
            uri: rsip::Uri::try_from(self.uri.as_str()).unwrap_or_default(),
            version: rsip::Version::V2,
            headers,
            body: Vec::new(),
        };
        request.to_string().into_bytes()
    }

    /// The `Authorization` (401) or `Proxy-Authorization` (407) answering
    /// `challenge` with the line's credentials.
    fn authorize(
        &self,
        challenge: &rsip::typed::WwwAuthenticate,
        (username, password): (&str, &str),
        proxy: bool,
    ) -> rsip::Header {
        let uri = rsip::Uri::try_from(self.uri.as_str()).unwrap_or_default();
        let qop = match challenge.qop {
            Some(Qop::Auth) | Some(Qop::AuthInt) => Some(AuthQop::Auth {
                cnonce: random_token(),
                nc: 1,
            }),
            None => None,
        };
        let algorithm = challenge.algorithm.unwrap_or(Algorithm::Md5);
        let response = DigestGenerator {
            username,
            password,
            nonce: &challenge.nonce,
            uri: &uri,
            realm: &challenge.realm,
            method: &rsip::Method::Notify,
            qop: qop.as_ref(),
            algorithm,
        }
        .compute();
        let typed = rsip::typed::Authorization {
            scheme: Scheme::Digest,
            username: username.to_string(),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri,
            response,
            algorithm: challenge.algorithm,
            opaque: challenge.opaque.clone(),
            qop,
        };
        if proxy {
            rsip::headers::ProxyAuthorization::new(typed.to_string()).into()
        } else {
            rsip::Header::Authorization(typed.into())
        }
    }
}

/// Sends `request` until a final answer of this call comes, or Timer F.
async fn transaction(socket: &UdpSocket, request: &[u8], call: &Call) -> std::io::Result<Final> {
    let give_up = Instant::now() + TIMER_F;
    let mut gap = T1;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    socket.send(request).await?;
    let mut resend = Instant::now() + gap;
    loop {
        let wait = resend.min(give_up);
        match timeout_at(wait, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if let Some(answer) = read_answer(&buf[..n], call) {
                    match answer {
                        // Provisional: stop resending fast (§17.1.2.2), wait on.
                        Final::Status(code, ..) if code < 200 => gap = T2,
                        done => return Ok(done),
                    }
                }
            }
            // A port that refuses (ICMP) is as silent as one that drops.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                sleep_until(wait).await;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) if Instant::now() >= give_up => return Ok(Final::Silent),
            Err(_) => {
                socket.send(request).await?;
                gap = (gap * 2).min(T2);
                resend = Instant::now() + gap;
            }
        }
    }
}

/// A response to this call, or `None` for anything else.
fn read_answer(datagram: &[u8], call: &Call) -> Option<Final> {
    let rsip::SipMessage::Response(response) = rsip::SipMessage::try_from(datagram).ok()? else {
        return None;
    };
    if response.call_id_header().ok()?.value() != call.call_id {
        return None;
    }
    let challenge = response.headers.iter().find_map(|h| match h {
        rsip::Header::WwwAuthenticate(w) => w.typed().ok().map(Box::new),
        rsip::Header::ProxyAuthenticate(p) => rsip::headers::WwwAuthenticate::new(p.value())
            .typed()
            .ok()
            .map(Box::new),
        _ => None,
    });
    let code = response.status_code.code();
    Some(Final::Status(code, response.status_code.to_string(), challenge))
}

/// An address as a SIP host: IPv6 in brackets.
fn host_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn random_token() -> String {
    hex::encode(crate::secrets::random_bytes::<8>())
}
