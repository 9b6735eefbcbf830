//! One NOTIFY through FreeSWITCH's Event Socket (mod_event_socket, inbound):
//! FreeSWITCH sends it to the user's registration, so it reaches phones
//! behind NAT. The exchange, as FreeSWITCH documents it: the server greets
//! with `Content-Type: auth/request`, the client answers `auth <password>`,
//! then `sendevent NOTIFY` with the headers sofia reads (`profile`,
//! `event-string`, `user`, `host`, `content-type`), each reply a
//! `command/reply` whose `Reply-Text` starts with `+OK` or `-ERR`.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long the whole exchange may take.
const DEADLINE: Duration = Duration::from_secs(10);
/// The most one header block or body may hold: an answer is a few lines.
const MAX_BLOCK: usize = 64 * 1024;

/// Where FreeSWITCH listens and how sipprov logs in, and which SIP profile
/// its phones register on.
#[derive(Clone)]
pub struct EventSocket {
    pub address: String,
    pub password: String,
    pub profile: String,
}

impl std::fmt::Debug for EventSocket {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSocket")
            .field("address", &self.address)
            .field("password", &"********")
            .field("profile", &self.profile)
            .finish()
    }
}

/// What FreeSWITCH said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK …`: the event is queued.
    Accepted(String),
    /// `-ERR …`, at login or for the event.
    Refused(String),
}

/// Has FreeSWITCH send a NOTIFY with `event` to `user`@`host`.
pub async fn notify(socket: &EventSocket, user: &str, host: &str, event: &str) -> std::io::Result<Reply> {
    tokio::time::timeout(DEADLINE, exchange(socket, user, host, event))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "FreeSWITCH did not answer in time",
            ))
        })
}

async fn exchange(socket: &EventSocket, user: &str, host: &str, event: &str) -> std::io::Result<Reply> {
    let stream = TcpStream::connect(&socket.address).await?;
    let mut stream = BufReader::new(stream);
    let greeting = read_block(&mut stream).await?;
    if header(&greeting, "Content-Type") != Some("auth/request") {
        return Err(invalid("FreeSWITCH did not ask to authenticate"));
    }
    stream
        .get_mut()
        .write_all(format!("auth {}\n\n", one_line(&socket.password)).as_bytes())
        .await?;
    if let Reply::Refused(why) = read_reply(&mut stream).await? {
        return Ok(Reply::Refused(format!("login: {why}")));
    }
    let command = format!(
        "sendevent NOTIFY\nprofile: {}\nevent-string: {}\nuser: {}\nhost: {}\ncontent-type: application/simple-message-summary\n\n",
        one_line(&socket.profile),
        one_line(event),
        one_line(user),
        one_line(host),
    );
    stream.get_mut().write_all(command.as_bytes()).await?;
    let reply = read_reply(&mut stream).await?;
    let _ = stream.get_mut().write_all(b"exit\n\n").await;
    Ok(reply)
}

/// The next `command/reply`, skipping anything else the server sends.
async fn read_reply(stream: &mut BufReader<TcpStream>) -> std::io::Result<Reply> {
    loop {
        let block = read_block(stream).await?;
        if header(&block, "Content-Type") != Some("command/reply") {
            continue;
        }
        let text: String = header(&block, "Reply-Text")
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        return Ok(if text.starts_with("+OK") {
            Reply::Accepted(text)
        } else {
            Reply::Refused(text)
        });
    }
}

/// One header block up to its blank line, with its body (`Content-Length`)
/// read and dropped.
async fn read_block(stream: &mut BufReader<TcpStream>) -> std::io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        let n = (&mut *stream)
            .take((MAX_BLOCK - size + 1) as u64)
            .read_line(&mut line)
            .await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "FreeSWITCH closed the connection",
            ));
        }
        size += n;
        if size > MAX_BLOCK {
            return Err(invalid("FreeSWITCH sent a header block larger than 64 KiB"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if headers.is_empty() {
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length: usize = header(&headers, "Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_BLOCK {
        return Err(invalid("FreeSWITCH sent a body larger than 64 KiB"));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A value as one header line: a line break would start a header of its own.
fn one_line(value: &str) -> String {
    value.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

fn invalid(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}
