//! One SIP NOTIFY to one phone, over UDP, TCP or TLS as its line uses: a
//! non-INVITE client transaction (RFC 3261 §17.1.2, retransmitted over
//! UDP), and one authenticated retry when the phone challenges (401/407),
//! as Cisco SPA phones do. Messages are built and read with `rsip`; the
//! digest is its `DigestGenerator`.
//!
//! Each NOTIFY has a socket or connection of its own, to the phone: it
//! hears only that phone, answers nothing, and is closed when the NOTIFY
//! ends. Over TLS the phone's certificate is not checked against a CA
//! (phones carry self-signed or factory certificates), only its signature:
//! the NOTIFY carries no secret, and a digest answers one nonce.

use std::net::SocketAddr;
use std::time::Duration;

use rsip::headers::auth::{Algorithm, AuthQop, Qop, Scheme};
use rsip::prelude::*;
use rsip::services::DigestGenerator;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, sleep_until, timeout_at};

/// RFC 3261 timers: the first retransmission, the longest gap, and when a
/// transaction with no final answer gives up (64 × T1).
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMER_F: Duration = Duration::from_secs(32);

/// The largest datagram read; SIP over UDP stays well under it.
const MAX_DATAGRAM: usize = 65_507;

/// How the phone's line reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// `udp`, `tcp` or `tls`, as the `transport` setting says; UDP otherwise.
    pub fn of(setting: &str) -> Transport {
        match setting {
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => Transport::Udp,
        }
    }

    /// The port a phone listens on for it when none is set.
    pub fn default_port(self) -> u16 {
        if self == Transport::Tls { 5061 } else { 5060 }
    }

    fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// What to send.
#[derive(Clone)]
pub struct Notify<'a> {
    pub to: SocketAddr,
    pub transport: Transport,
    /// The user part of the request URI: the phone's first line.
    pub user: &'a str,
    pub event: &'a str,
    /// The first line's SIP credentials, for a challenge.
    pub credentials: Option<(&'a str, &'a str)>,
}

impl std::fmt::Debug for Notify<'_> {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("to", &self.to)
            .field("transport", &self.transport)
            .field("user", &self.user)
            .field("event", &self.event)
            .field("credentials", &self.credentials.map(|(user, _)| (user, "********")))
            .finish()
    }
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
    let give_up = Instant::now() + TIMER_F;
    let (mut channel, me) = match timeout_at(give_up, Channel::open(notify.to, notify.transport)).await {
        Ok(opened) => opened?,
        Err(_) => return Ok(Answer::Silent),
    };
    let call = Call::new(notify, me);
    let mut request = call.request(1, None);
    let mut challenged = false;
    loop {
        let answer = channel.transaction(&request, &call).await?;
        match answer {
            Final::Status(code, _, challenge) if (code == 401 || code == 407) && !challenged => {
                let (Some(challenge), Some(credentials)) = (challenge, notify.credentials) else {
                    return Ok(Answer::Refused(
                        code,
                        "challenged, and the phone has no line credentials".into(),
                    ));
                };
                challenged = true;
                if matches!(challenge.algorithm, Some(a) if a.to_string().to_ascii_lowercase().ends_with("-sess")) {
                    return Ok(Answer::Refused(
                        code,
                        "challenged with a -sess digest, which sipprov does not answer".into(),
                    ));
                }
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

/// One request as sent, and its CSeq, which its answers carry.
struct Request {
    bytes: Vec<u8>,
    cseq: u32,
}

/// The fixed parts of the dialog-less NOTIFY.
struct Call {
    uri: String,
    from: String,
    call_id: String,
    me: SocketAddr,
    event: String,
    transport: Transport,
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
            transport: notify.transport,
        }
    }

    fn request(&self, cseq: u32, authorization: Option<rsip::Header>) -> Request {
        let mut headers: rsip::Headers = Default::default();
        headers.push(
            rsip::headers::Via::new(format!(
                "SIP/2.0/{} {};branch=z9hG4bK{};rport",
                self.transport.via(),
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
        headers.push(
            rsip::headers::Contact::new(format!(
                "<sip:sipprov@{};transport={}>",
                host_of(self.me),
                self.transport.via().to_lowercase()
            ))
            .into(),
        );
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
        Request {
            bytes: request.to_string().into_bytes(),
            cseq,
        }
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

/// A byte stream to the phone: TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The way to the phone: a connected UDP socket, or a stream and what has
/// been read from it.
enum Channel {
    Udp(UdpSocket),
    Stream(Box<dyn Stream>, Vec<u8>),
}

impl Channel {
    /// Opens the way to `to`; also gives the local address it leaves from.
    async fn open(to: SocketAddr, transport: Transport) -> std::io::Result<(Channel, SocketAddr)> {
        if transport == Transport::Udp {
            let local: SocketAddr = if to.is_ipv4() {
                "0.0.0.0:0".parse().expect("valid")
            } else {
                "[::]:0".parse().expect("valid")
            };
            let socket = UdpSocket::bind(local).await?;
            socket.connect(to).await?;
            let me = socket.local_addr()?;
            return Ok((Channel::Udp(socket), me));
        }
        let tcp = TcpStream::connect(to).await?;
        let me = tcp.local_addr()?;
        let stream: Box<dyn Stream> = if transport == Transport::Tls {
            let name = rustls::pki_types::ServerName::IpAddress(to.ip().into());
            Box::new(
                tokio_rustls::TlsConnector::from(tls::config())
                    .connect(name, tcp)
                    .await?,
            )
        } else {
            Box::new(tcp)
        };
        Ok((Channel::Stream(stream, Vec::new()), me))
    }

    /// Sends `request` until a final answer of this call comes, or Timer F.
    async fn transaction(&mut self, request: &Request, call: &Call) -> std::io::Result<Final> {
        let give_up = Instant::now() + TIMER_F;
        match self {
            Channel::Udp(socket) => udp_transaction(socket, request, call, give_up).await,
            Channel::Stream(stream, read) => {
                stream.write_all(&request.bytes).await?;
                loop {
                    let message = match timeout_at(give_up, next_message(stream, read)).await {
                        Ok(message) => message?,
                        Err(_) => return Ok(Final::Silent),
                    };
                    match read_answer(&message, call, request.cseq) {
                        Some(Final::Status(code, ..)) if code < 200 => {}
                        Some(done) => return Ok(done),
                        None => {}
                    }
                }
            }
        }
    }
}

/// The next whole message on a stream: its headers, then `Content-Length`
/// bytes of body.
async fn next_message(stream: &mut Box<dyn Stream>, read: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    loop {
        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&read[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    let name = name.trim();
                    (name.eq_ignore_ascii_case("Content-Length") || name == "l").then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            let total = end.saturating_add(4).saturating_add(length);
            if total > MAX_DATAGRAM {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the phone sent a message over 64 KiB",
                ));
            }
            if read.len() >= total {
                let message: Vec<u8> = read.drain(..total).collect();
                return Ok(message);
            }
        } else if read.len() > MAX_DATAGRAM {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the phone sent headers over 64 KiB",
            ));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the phone closed the connection",
            ));
        }
        read.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `request` over UDP until a final answer of this call comes,
/// resending as RFC 3261 says, or until `give_up`.
async fn udp_transaction(
    socket: &UdpSocket,
    request: &Request,
    call: &Call,
    give_up: Instant,
) -> std::io::Result<Final> {
    let mut gap = T1;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    socket.send(&request.bytes).await?;
    let mut resend = Instant::now() + gap;
    loop {
        let wait = resend.min(give_up);
        match timeout_at(wait, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if let Some(answer) = read_answer(&buf[..n], call, request.cseq) {
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
                socket.send(&request.bytes).await?;
                gap = (gap * 2).min(T2);
                resend = Instant::now() + gap;
            }
        }
    }
}

/// TLS to phones: any certificate, its signatures still checked.
mod tls {
    use std::sync::{Arc, OnceLock};

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    struct AnyPhoneCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyPhoneCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    pub fn config() -> Arc<rustls::ClientConfig> {
        static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .expect("the provider supports TLS 1.2 and 1.3")
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyPhoneCertificate(provider)))
                    .with_no_client_auth();
                Arc::new(config)
            })
            .clone()
    }
}

/// A response to this call's request `cseq`, or `None` for anything else:
/// a late answer to the first request is not taken for the retry's.
fn read_answer(datagram: &[u8], call: &Call, cseq: u32) -> Option<Final> {
    let rsip::SipMessage::Response(response) = rsip::SipMessage::try_from(datagram).ok()? else {
        return None;
    };
    if response.call_id_header().ok()?.value() != call.call_id {
        return None;
    }
    let answered = response
        .cseq_header()
        .ok()?
        .value()
        .split_whitespace()
        .next()?
        .parse::<u32>()
        .ok()?;
    if answered != cseq {
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
    Some(Final::Status(code, shown(&response.status_code.to_string()), challenge))
}

/// Text a phone sent, as a job's detail may show it: printable, and short.
fn shown(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(128).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        let notify = Notify {
            to: "192.0.2.7:5060".parse().unwrap(),
            transport: Transport::Udp,
            user: "1001",
            event: "resync",
            credentials: None,
        };
        Call::new(&notify, "192.0.2.1:40000".parse().unwrap())
    }

    fn answer(call: &Call, cseq: u32, status: &str) -> Vec<u8> {
        format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKx\r\nFrom: {}\r\nTo: <{}>;tag=p\r\nCall-ID: {}\r\nCSeq: {cseq} NOTIFY\r\nContent-Length: 0\r\n\r\n",
            call.from, call.uri, call.call_id
        )
        .into_bytes()
    }

    #[test]
    fn a_late_answer_to_the_first_request_is_not_the_retrys() {
        let call = call();
        // The phone's 401 to a resent first NOTIFY arrives during the retry.
        assert!(read_answer(&answer(&call, 1, "401 Unauthorized"), &call, 2).is_none());
        assert!(matches!(
            read_answer(&answer(&call, 2, "200 OK"), &call, 2),
            Some(Final::Status(200, ..))
        ));
        // Another call's answer is not this one's.
        let other = super::tests::call();
        assert!(read_answer(&answer(&other, 1, "200 OK"), &call, 1).is_none());
    }

    #[test]
    fn a_phones_reason_is_shown_short_and_printable() {
        let long = format!("\u{1b}[31m{}", "x".repeat(500));
        let shown = shown(&long);
        assert!(!shown.contains('\u{1b}') && shown.chars().count() == 128, "{shown}");
    }

    #[test]
    fn the_notify_has_what_an_out_of_dialog_notify_needs() {
        let call = call();
        let text = String::from_utf8(call.request(1, None).bytes).unwrap();
        for header in [
            "Via: SIP/2.0/UDP",
            "Contact: <sip:sipprov@",
            "Event: resync",
            "Subscription-State: terminated",
            "CSeq: 1 NOTIFY",
            "Max-Forwards: 70",
        ] {
            assert!(text.contains(header), "{header} missing:\n{text}");
        }
        assert!(text.starts_with("NOTIFY sip:1001@192.0.2.7:5060 SIP/2.0\r\n"), "{text}");
    }
}
