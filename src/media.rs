//! What an uploaded file is, judged by its bytes, and what an audio file
//! holds (duration, rate, channels), read with symphonia.

use std::path::{Path, PathBuf};

use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Where media of a type is kept.
pub fn media_dir(data_dir: &Path, kind: &str) -> PathBuf {
    data_dir.join("media").join(kind.to_lowercase())
}

/// How many leading bytes decide a file's type.
pub const SNIFF_BYTES: usize = 8192;

/// A file's type as its bytes show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: String,
    pub ext: String,
}

/// Why an upload is refused (415).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Judges a file by its first bytes, not its name. HTML, JavaScript and
/// executables are refused; `name` only adds to the refusals (a `.js` file
/// is refused even when its text says nothing).
pub fn sniff(head: &[u8], name: &str) -> Result<Sniffed, Refused> {
    let lower_name = name.to_ascii_lowercase();
    let name_ext = lower_name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if [
        "html", "htm", "xhtml", "js", "mjs", "svg", "exe", "dll", "bat", "cmd", "sh", "ps1",
    ]
    .contains(&name_ext)
    {
        return Err(Refused(format!("file: '.{name_ext}' files are not accepted")));
    }
    // Executable headers, even too short for infer's matchers.
    if head.starts_with(b"\x7fELF") || head.starts_with(b"MZ") || head.starts_with(b"\xcf\xfa\xed\xfe") {
        return Err(Refused("file: executables are not accepted".into()));
    }
    if let Some(kind) = infer::get(head) {
        let mime = kind.mime_type();
        let runnable = [
            "html",
            "javascript",
            "shellscript",
            "x-sh",
            "executable",
            "msdownload",
            "wasm",
        ];
        if matches!(kind.matcher_type(), infer::MatcherType::App) || runnable.iter().any(|r| mime.contains(r)) {
            return Err(Refused(format!("file: {} content is not accepted", kind.mime_type())));
        }
        return Ok(Sniffed {
            mime: normalise_mime(kind.mime_type()),
            ext: kind.extension().to_string(),
        });
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) if !t.contains('\0') => t,
        Ok(_) => {
            return Ok(Sniffed {
                mime: "application/octet-stream".into(),
                ext: "bin".into(),
            });
        }
        // A multi-byte character cut off by the sniff window is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => {
            return Ok(Sniffed {
                mime: "application/octet-stream".into(),
                ext: "bin".into(),
            });
        }
    };
    let lower = text.trim_start().to_ascii_lowercase();
    if lower.starts_with("#!") {
        return Err(Refused("file: executable scripts are not accepted".into()));
    }
    if ["<!doctype html", "<html", "<script", "<body", "<iframe", "<svg"]
        .iter()
        .any(|tag| lower.contains(tag))
    {
        return Err(Refused("file: HTML content is not accepted".into()));
    }
    let ext = match name_ext {
        "csv" | "txt" | "lua" | "xml" | "json" => name_ext,
        _ => "txt",
    };
    Ok(Sniffed {
        mime: "text/plain".into(),
        ext: ext.into(),
    })
}

fn normalise_mime(mime: &str) -> String {
    match mime {
        "audio/x-wav" => "audio/wav",
        other => other,
    }
    .to_string()
}

/// What an audio file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioInfo {
    pub duration_seconds: i64,
    pub sample_rate: i64,
    pub channels: i64,
    pub bit_rate: i64,
}

/// Reads a WAV or MP3 file's properties; `None` when it is not one or is
/// damaged. Reads packet headers only, never decodes.
pub fn audio_info(path: &Path, ext: &str, file_size: u64) -> Option<AudioInfo> {
    let file = std::fs::File::open(path).ok()?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let mut format = symphonia::default::get_probe()
        .probe(&hint, stream, FormatOptions::default(), MetadataOptions::default())
        .ok()?;
    let track = format.default_track(TrackType::Audio)?.clone();
    let params = track.codec_params.as_ref()?.audio()?.clone();
    let sample_rate = i64::from(params.sample_rate?);
    let channels = params.channels.as_ref().map_or(0, |c| c.count() as i64);
    let frames = match track.num_frames {
        Some(n) => n,
        // No frame count in the header (an MP3 without a Xing tag): add up
        // the packets' durations.
        None => {
            let mut total = 0u64;
            while let Ok(Some(packet)) = format.next_packet() {
                if packet.track_id == track.id {
                    total += packet.dur.get();
                }
            }
            total
        }
    };
    let seconds = frames as f64 / sample_rate as f64;
    let bit_rate = match params.bits_per_sample {
        Some(bits) => sample_rate * channels * i64::from(bits),
        None if seconds > 0.0 => (file_size as f64 * 8.0 / seconds) as i64,
        None => 0,
    };
    Some(AudioInfo {
        duration_seconds: seconds.round() as i64,
        sample_rate,
        channels,
        bit_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PCM WAV of `seconds` of silence.
    fn wav(seconds: u32, rate: u32, channels: u16) -> Vec<u8> {
        let data_len = seconds * rate * u32::from(channels) * 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        out.extend_from_slice(&(channels * 2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        out.resize(out.len() + data_len as usize, 0);
        out
    }

    #[test]
    fn types_come_from_the_bytes() {
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D];
        assert_eq!(sniff(&png, "x.txt").unwrap().mime, "image/png");
        assert_eq!(sniff(&wav(1, 8000, 1), "prompt.mp3").unwrap().mime, "audio/wav");
        assert_eq!(
            sniff(b"1001,Alice\n", "list.csv").unwrap(),
            Sniffed {
                mime: "text/plain".into(),
                ext: "csv".into()
            }
        );
        assert!(sniff(b"<!DOCTYPE html><p>hi", "x.png").is_err());
        assert!(sniff(b"  <script>alert(1)</script>", "a.txt").is_err());
        assert!(sniff(b"#!/bin/sh\nrm -rf /", "a.txt").is_err());
        assert!(
            sniff(
                b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00",
                "a.wav"
            )
            .is_err()
        );
        assert!(sniff(b"MZ\x90\x00\x03\x00\x00\x00", "a.wav").is_err());
        assert!(sniff(b"console.log(1)", "app.js").is_err());
    }

    #[test]
    fn wav_properties_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        std::fs::write(&path, wav(3, 8000, 1)).unwrap();
        let info = audio_info(&path, "wav", 48044).unwrap();
        assert_eq!(
            info,
            AudioInfo {
                duration_seconds: 3,
                sample_rate: 8000,
                channels: 1,
                bit_rate: 128_000
            }
        );
        std::fs::write(&path, b"RIFF junk").unwrap();
        assert_eq!(audio_info(&path, "wav", 9), None);
    }
}
