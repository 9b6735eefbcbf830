//! Seed 000: media files (uploads with real curl, downloads with Range and
//! ETag) and sensors (extn_alarms).

use std::path::Path;

use serde_json::{Value, json};

use crate::clients::RunClient;
use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};

/// A PCM WAV of `seconds` of silence, 8 kHz mono.
/// The `Last-Modified` of a file the API serves.
async fn whole_headers(app: &TestApp, url: &str) -> String {
    let response = app
        .client
        .get(url)
        .header("X-XTRA-AUTH-ID", &app.token)
        .send()
        .await
        .unwrap();
    response.headers()["last-modified"].to_str().unwrap().to_string()
}

pub fn wav(seconds: u32) -> Vec<u8> {
    let data_len = seconds * 8000 * 2;
    let mut out = Vec::new();
    for part in [
        &b"RIFF"[..],
        &(36 + data_len).to_le_bytes(),
        b"WAVEfmt ",
        &16u32.to_le_bytes(),
    ] {
        out.extend_from_slice(part);
    }
    for part in [
        &1u16.to_le_bytes()[..],
        &1u16.to_le_bytes(),
        &8000u32.to_le_bytes(),
        &16000u32.to_le_bytes(),
    ] {
        out.extend_from_slice(part);
    }
    for part in [
        &2u16.to_le_bytes()[..],
        &16u16.to_le_bytes(),
        b"data",
        &data_len.to_le_bytes(),
    ] {
        out.extend_from_slice(part);
    }
    out.resize(out.len() + data_len as usize, 0);
    out
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
];

/// `curl -F file=@… …` as the seed shows; returns status and JSON body.
async fn upload(app: &TestApp, files: &[&Path]) -> (u16, Value) {
    let mut args = vec!["-s".to_string(), "-H".into(), format!("X-XTRA-AUTH-ID: {}", app.token)];
    for f in files {
        args.push("-F".into());
        args.push(format!("file=@{}", f.display()));
    }
    args.extend(["-w".into(), "\n%{http_code}".into(), app.url("/api/upload")]);
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("curl").args(&args).run())
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn stored_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir.path().join("media/upload")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn uploads_are_typed_by_their_bytes_kept_whole_or_not_at_all() {
    on_each_backend(|app| async move {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let (prompt, png) = (file("prompt.wav", &wav(3)), file("x.png", PNG));
        let (status, rows) = upload(&app, &[&prompt, &png]).await;
        assert_eq!(status, 200, "{rows}");
        let rows = rows.as_array().unwrap().clone();
        assert_eq!(rows.len(), 2);
        let audio = &rows[0];
        for (k, v) in [
            ("type", json!("UPLOAD")),
            ("description", json!("UPLOAD")),
            ("name", json!("prompt.wav")),
            ("original_file_name", json!("prompt.wav")),
            ("mime", json!("audio/wav")),
            ("ext", json!("wav")),
            ("duration", json!(3)),
            ("sample_rate", json!(8000)),
            ("channels", json!(1)),
            ("bit_rate", json!(128000)),
            ("file_size", json!(48044)),
        ] {
            assert_eq!(audio[k], v, "{k} in {audio}");
        }
        let rel = audio["rel_path"].as_str().unwrap();
        assert!(rel.starts_with("upload-") && rel.ends_with(".wav"), "{rel}");
        assert_eq!(std::fs::read(audio["abs_path"].as_str().unwrap()).unwrap(), wav(3));
        assert_eq!(
            (rows[1]["mime"].clone(), rows[1]["ext"].clone()),
            (json!("image/png"), json!("png"))
        );
        assert_eq!(stored_files(&app), 2);

        // Refused kinds, judged by the bytes; one bad file refuses the lot.
        for (name, bytes) in [
            ("page.png", &b"<!DOCTYPE html><script>x()</script>"[..]),
            ("run.wav", b"\x7fELF\x02\x01\x01\x00"),
            ("a.js", b"alert(1)"),
        ] {
            let (status, body) = upload(&app, &[&prompt, &file(name, bytes)]).await;
            assert_eq!(status, 415, "{name}: {body}");
            assert!(body["message"].as_str().unwrap().starts_with("file: "), "{body}");
        }
        assert_eq!(stored_files(&app), 2, "nothing kept from refused uploads");
        assert_eq!(
            app.get("/api/upload/upload_max_size").await.1,
            json!({"upload_max_size": 104857600})
        );

        // Over the limit: a JSON 413, nothing kept.
        let mut app = app;
        app.settings.upload_max_size = 1000;
        let app = app.restart().await;
        let (status, body) = upload(&app, &[&prompt]).await;
        assert_eq!((status, body["code"].clone()), (413, json!(413)), "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("larger than upload_max_size (1000 bytes)")
        );
        assert_eq!(stored_files(&app), 2);

        // Per request too: many files each under the limit are refused as
        // a whole once they pass the request's size or part count.
        let mut app = app;
        app.settings.upload_max_size = 1024 * 1024;
        app.settings.upload_max_request_size = 2 * 1024 * 1024;
        app.settings.upload_max_parts = 5;
        let app = app.restart().await;
        let small: Vec<_> = (0..6).map(|n| file(&format!("p{n}.png"), PNG)).collect();
        let (status, body) = upload(&app, &small.iter().map(|p| p.as_path()).collect::<Vec<_>>()).await;
        assert_eq!(status, 413, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("more than upload_max_parts (5) parts"),
            "{body}"
        );
        let mut big = PNG.to_vec();
        big.resize(900 * 1024, 0);
        let large: Vec<_> = (0..3).map(|n| file(&format!("b{n}.png"), &big)).collect();
        let (status, body) = upload(&app, &large.iter().map(|p| p.as_path()).collect::<Vec<_>>()).await;
        assert_eq!(status, 413, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("larger than upload_max_request_size (2097152 bytes)"),
            "{body}"
        );
        assert_eq!(stored_files(&app), 2, "nothing kept");
        let (status, body) = upload(&app, &large[..2].iter().map(|p| p.as_path()).collect::<Vec<_>>()).await;
        assert_eq!(status, 200, "within both limits: {body}");
    })
    .await;
}

#[tokio::test]
async fn media_files_list_download_change_and_delete() {
    on_each_backend(|app| async move {
        let dir = tempfile::tempdir().unwrap();
        let prompt = dir.path().join("welcome prompt.wav");
        std::fs::write(&prompt, wav(1)).unwrap();
        let png = dir.path().join("logo.png");
        std::fs::write(&png, PNG).unwrap();
        let (_, rows) = upload(&app, &[&prompt, &png]).await;
        let (audio_id, png_id) = (rows[0]["id"].as_i64().unwrap(), rows[1]["id"].as_i64().unwrap());

        for (query, count) in [
            ("", 2),
            ("?type=UPLOAD", 2),
            ("?types=UPLOAD,TTS,SYSTEM", 2),
            ("?types=TTS", 0),
            ("?name=welcome", 1),
            ("?q=logo", 1),
            ("?startDate=2000-01-01&endDate=2999-12-31", 2),
            ("?uuid=68b2dd28-cf52-4246-9002-7c1b8eeba5d0", 0),
        ] {
            let (status, list) = app.get(&format!("/api/media_files{query}")).await;
            assert_eq!(
                (status.as_u16(), list["rowCount"].clone()),
                (200, json!(count)),
                "{query}: {list}"
            );
        }
        assert_error(
            &app.get("/api/media_files?startDate=yesterday").await,
            400,
            "startDate: ",
        );
        assert_eq!(
            app.get(&format!("/api/media_files/{audio_id}")).await.1["name"],
            "welcome prompt.wav"
        );
        assert_error(
            &app.get("/api/media_files/uuid/a0c5e670-a9ab-4337-90a9-762e3a4103ab")
                .await,
            404,
            "no media file",
        );

        // The bytes, with Range and ETag.
        let url = app.url(&format!("/api/media_files/{audio_id}.wav"));
        let get = |range: Option<&str>, etag: Option<&str>| {
            let mut req = app.client.get(&url).header("X-XTRA-AUTH-ID", &app.token);
            if let Some(r) = range {
                req = req.header("Range", r);
            }
            if let Some(e) = etag {
                req = req.header("If-None-Match", e);
            }
            req.send()
        };
        let whole = get(None, None).await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["content-type"], "audio/wav");
        let etag = whole.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(whole.bytes().await.unwrap().to_vec(), wav(1));
        let part = get(Some("bytes=0-3"), None).await.unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap().as_ref(), b"RIFF");
        assert_eq!(get(None, Some(&etag)).await.unwrap().status(), 304);
        // A download resumed after the file changed gets the whole new file,
        // not the old one's start spliced to the new one's end (If-Range).
        let on_disk = app.get(&format!("/api/media_files/{audio_id}")).await.1["abs_path"]
            .as_str()
            .unwrap()
            .to_string();
        let resume = |validator: &str| {
            let mut args: Vec<String> = ["-s", "-o", "-", "-w", "\n%{http_code}", "-H", "Range: bytes=4-"]
                .map(String::from)
                .into();
            args.extend([
                "-H".into(),
                format!("If-Range: {validator}"),
                "-H".into(),
                format!("X-XTRA-AUTH-ID: {}", app.token),
                url.clone(),
            ]);
            async move { crate::clients::curl(args).await.stdout }
        };
        let resumed = resume(&etag).await;
        assert!(resumed.ends_with(b"\n206"), "the same file: the rest");
        assert_eq!(&resumed[..resumed.len() - 4], &wav(1)[4..]);
        let last_modified = whole_headers(&app, &url).await;
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&on_disk, wav(2)).unwrap();
        for stale in [etag.as_str(), last_modified.as_str()] {
            let resumed = resume(stale).await;
            assert!(resumed.ends_with(b"\n200"), "{stale}: the whole file");
            assert_eq!(&resumed[..resumed.len() - 4], wav(2).as_slice(), "{stale}");
        }
        assert_error(
            &app.get(&format!("/api/media_files/{audio_id}.mp3")).await,
            404,
            "is a .wav file",
        );
        assert_eq!(
            app.client
                .get(app.url(&format!("/api/media_files/{audio_id}.wav")))
                .send()
                .await
                .unwrap()
                .status(),
            403,
            "needs a token"
        );

        // The seed's PUT example.
        let put = json!({"description": "UPLOAD", "id": "2", "name": "test.bat", "type": "UPLOAD"});
        assert_eq!(
            assert_done(&app.put(&format!("/api/media_files/{png_id}"), put).await),
            json!(png_id.to_string())
        );
        assert_eq!(
            app.get(&format!("/api/media_files/{png_id}")).await.1["name"],
            "test.bat"
        );
        assert_error(
            &app.put(&format!("/api/media_files/{png_id}"), json!({"type": "MOVIE"}))
                .await,
            400,
            "type: 'MOVIE' is not one of",
        );

        // In use by a queue and a sensor: kept, with what uses it named.
        let queue = assert_done(
            &app.post(
                "/api/queues",
                json!({"name": "sales", "type": "callcenter", "moh_sound": audio_id}),
            )
            .await,
        );
        assert_eq!(
            app.get(&format!("/api/queues/{}", queue.as_str().unwrap())).await.1["moh_sound"]["media_id"],
            json!(audio_id.to_string())
        );
        let extn = app.extension("1000", "xswitch.cn", "sensor-pass-1").await;
        let sensor = assert_done(
            &app.post(
                "/api/extn_alarms",
                json!({"name": "新增传感器数据", "caller_number": "1000", "call_duration": "100", "extn_id": extn,
            "description": "测试新增传感器数据接口", "action": "playback", "data": audio_id}),
            )
            .await,
        );
        let (status, body) = app.delete(&format!("/api/media_files/{audio_id}")).await;
        assert_eq!(status, 409, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("queue") && message.contains("sales") && message.contains(&format!("sensor {sensor}")),
            "{message}"
        );

        let png_path = app.get(&format!("/api/media_files/{png_id}")).await.1["abs_path"]
            .as_str()
            .unwrap()
            .to_string();
        // A row whose file is gone: a 404 that says so.
        let kept = std::fs::read(&png_path).unwrap();
        std::fs::remove_file(&png_path).unwrap();
        assert_error(
            &app.get(&format!("/api/media_files/{png_id}.png")).await,
            404,
            "has no file to download",
        );
        std::fs::write(&png_path, kept).unwrap();
        assert_eq!(
            assert_done(&app.delete(&format!("/api/media_files/{png_id}")).await),
            json!(png_id.to_string())
        );
        assert!(!Path::new(&png_path).exists(), "the file goes with its row");
        assert_eq!(app.get(&format!("/api/media_files/{png_id}")).await.0, 404);
    })
    .await;
}

#[tokio::test]
async fn sensors_and_their_devices_as_seed_000_shows_them() {
    on_each_backend(|app| async move {
        let dir = tempfile::tempdir().unwrap();
        let prompt = dir.path().join("alarm.wav");
        std::fs::write(&prompt, wav(1)).unwrap();
        let (_, rows) = upload(&app, &[&prompt]).await;
        let media = rows[0]["id"].as_i64().unwrap();
        let extn = app.extension("1000", "xswitch.cn", "sensor-pass-1").await;

        let body = json!({"name": "新增传感器数据001", "caller_number": "1000", "call_duration": "100", "extn_id": extn,
                          "description": "测试新增传感器数据接口", "action": "playback", "data": media});
        let id = assert_done(&app.post("/api/extn_alarms", body.clone()).await);
        assert!(id.is_i64(), "data is the new id: {id}");
        for (change, needle) in [
            (json!({"action": "dance"}), "action: 'dance' is not one of playback"),
            (json!({"data": 9999}), "data: no media file has id 9999"),
            (json!({"extn_id": 9999}), "extn_id: no extension has id 9999"),
            (json!({"name": ""}), "name: required"),
            (json!({"call_duration": "long"}), "call_duration: "),
        ] {
            let mut bad = body.clone();
            for (k, v) in change.as_object().unwrap() {
                bad[k] = v.clone();
            }
            assert_error(&app.post("/api/extn_alarms", bad).await, 400, needle);
        }
        let (_, list) = app.get("/api/extn_alarms?perPage=500&page=1").await;
        assert_eq!(list["rowCount"], 1);
        let data: Value = serde_json::from_str(list["data"][0]["data"].as_str().unwrap()).unwrap();
        assert_eq!((data["media_id"].clone(), data["media_type"].clone()), (json!(media.to_string()), json!("UPLOAD")));
        assert!(data["media_path"].as_str().unwrap().ends_with(".wav"));
        assert_eq!(app.get("/api/extn_alarms?perPage=500&page=1&name=001").await.1["rowCount"], 1);
        assert_eq!(app.get("/api/extn_alarms?name=nothing").await.1["rowCount"], 0);
        let (_, one) = app.get(&format!("/api/extn_alarms/{id}")).await;
        assert_eq!(one["data"]["media_id"], json!(media.to_string()), "the detail shows data as an object");

        let put = json!({"name": "修改名字001", "caller_number": "12412", "call_duration": "1214", "extn_id": extn, "action": "playback"});
        assert_eq!(assert_done(&app.put(&format!("/api/extn_alarms/{id}"), put).await), json!(id.to_string()));
        assert_eq!(app.get(&format!("/api/extn_alarms/{id}")).await.1["name"], "修改名字001");

        // Devices: the import example, then a repeat that is refused whole.
        let import = json!({"data": [{"device_id": "010", "device_name": "传感器设备010"}, {"device_id": "011", "device_name": "传感器设备011"}]});
        assert_eq!(assert_done(&app.post(&format!("/api/extn_alarms/{id}/import"), import).await), json!("{}"));
        assert_error(
            &app.post(&format!("/api/extn_alarms/{id}/import"), json!({"data": [{"device_id": "012"}, {"device_id": "010"}]})).await,
            400,
            "data[1].device_id: '010' is already a device of sensor",
        );
        assert_error(
            &app.post(&format!("/api/extn_alarms/{id}/import"), json!({"data": [{"device_id": "013"}, {"device_id": "013"}]})).await,
            400,
            "data[1].device_id: '013'",
        );
        let (_, devices) = app.get(&format!("/api/extn_alarms/{id}/alarms?page=1&perPage=500")).await;
        assert_eq!(devices["rowCount"], 2, "{devices}");
        assert_eq!((devices["data"][0]["status"].clone(), devices["data"][0]["extn_alarms_id"].clone()), (json!("init"), id.clone()));
        let device = devices["data"][0]["id"].as_i64().unwrap();
        assert_eq!(assert_done(&app.delete(&format!("/api/extn_alarms/alarm/{device}")).await), json!("{}"));
        assert_eq!(app.delete(&format!("/api/extn_alarms/alarm/{device}")).await.0, 404);

        assert_eq!(assert_done(&app.delete(&format!("/api/extn_alarms/{id}")).await), json!("{}"));
        assert_eq!(app.get(&format!("/api/extn_alarms/{id}")).await.0, 404);
        let sensor_id = id.as_i64().unwrap();
        assert_eq!(
            app.stored_text("SELECT CAST(COUNT(*) AS TEXT) FROM extn_alarm_devices WHERE extn_alarms_id = $1 AND deleted_at IS NULL", sensor_id).await,
            vec![Some("0".to_string())],
            "its devices went with it"
        );
        assert_done(&app.delete(&format!("/api/media_files/{media}")).await);
    })
    .await;
}

#[tokio::test]
async fn background_jobs_report_as_seed_000_shows_and_clean_file_sweeps_old_recordings() {
    on_each_backend(|app| async move {
        assert_eq!(
            app.get("/api/check/clean-file").await.1,
            json!({"msg": "Already Running", "code": 0})
        );
        assert_eq!(
            app.get("/api/check/heartbeat").await.1,
            json!({"msg": "Already Running", "code": 0})
        );
        assert_eq!(
            app.get("/api/check/sip-trace").await.1,
            json!({"msg": "Not Running", "code": 200})
        );
        assert_error(
            &app.get("/api/check/coffee-maker").await,
            404,
            "no background job named 'coffee-maker'",
        );
        let health: Value = app
            .client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["heartbeat"].as_str().unwrap().len(), 19, "{health}");

        // One recording (made RECORD through the API) and one upload.
        let dir = tempfile::tempdir().unwrap();
        let (rec, keep) = (dir.path().join("call.wav"), dir.path().join("prompt.wav"));
        std::fs::write(&rec, wav(1)).unwrap();
        std::fs::write(&keep, wav(1)).unwrap();
        let (_, rows) = upload(&app, &[&rec, &keep]).await;
        let (rec_id, keep_id) = (rows[0]["id"].as_i64().unwrap(), rows[1]["id"].as_i64().unwrap());
        assert_done(
            &app.put(&format!("/api/media_files/{rec_id}"), json!({"type": "RECORD"}))
                .await,
        );
        let rec_path = rows[0]["abs_path"].as_str().unwrap().to_string();

        let data_dir = app.data_dir.path().to_path_buf();
        let day = std::time::Duration::from_secs(86_400);
        let now = sipprov::domain::timestamp::now();
        use sipprov::jobs::{Swept, clean_files};
        assert_eq!(
            clean_files(&app.db, &data_dir, day, now).await.unwrap(),
            Swept::Removed(0),
            "not old yet"
        );
        if let sipprov::store::Db::Postgres(pool) = &app.db {
            // Another node sweeping holds the lock: this one stands aside.
            let mut other = pool.begin().await.unwrap();
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(sipprov::store::media::CLEAN_FILE_LOCK)
                .execute(&mut *other)
                .await
                .unwrap();
            assert_eq!(
                clean_files(&app.db, &data_dir, day, now + 2 * day).await.unwrap(),
                Swept::OtherNode
            );
            other.rollback().await.unwrap();
        }
        assert_eq!(
            clean_files(&app.db, &data_dir, day, now + 2 * day).await.unwrap(),
            Swept::Removed(1)
        );
        assert_eq!(app.get(&format!("/api/media_files/{rec_id}")).await.0, 404);
        assert!(!Path::new(&rec_path).exists(), "the recording's file is gone");
        assert_eq!(
            app.get(&format!("/api/media_files/{keep_id}")).await.0,
            200,
            "uploads are kept"
        );
    })
    .await;
}

/// An MP3 made by Debian's lame encoder, as an admin would make a prompt.
#[tokio::test]
async fn mp3_uploads_get_their_audio_properties() {
    on_each_backend(|app| async move {
        let dir = tempfile::tempdir().unwrap();
        let (wav_path, mp3) = (dir.path().join("prompt.wav"), dir.path().join("prompt.mp3"));
        std::fs::write(&wav_path, wav(3)).unwrap();
        let mut lame = std::process::Command::new("lame");
        lame.args(["--quiet", "--resample", "44.1", "-b", "64"])
            .arg(&wav_path)
            .arg(&mp3);
        let made = tokio::task::spawn_blocking(move || lame.run_status()).await.unwrap();
        assert!(made.success());
        let (status, rows) = upload(&app, &[&mp3]).await;
        assert_eq!(status, 200, "{rows}");
        let row = &rows[0];
        for (k, v) in [
            ("mime", json!("audio/mpeg")),
            ("ext", json!("mp3")),
            ("duration", json!(3)),
            ("sample_rate", json!(44100)),
            ("channels", json!(1)),
        ] {
            assert_eq!(row[k], v, "{k} in {row}");
        }
        let bit_rate = row["bit_rate"].as_i64().unwrap();
        assert!((50_000..80_000).contains(&bit_rate), "about 64 kbit/s: {bit_rate}");
    })
    .await;
}
