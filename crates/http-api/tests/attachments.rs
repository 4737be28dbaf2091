//! Attachments over HTTP: streamed uploads sealed in both locations, downloads that a browser
//! can only save, and every refusal the issue names — oversized (declared or streamed, system
//! or tenant limit), wrong type, path-looking names, interrupted uploads — with a clear error
//! and nothing left on disk. Cross-tenant and role refusals are in `permissions.rs`.

mod common;

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, header};
use common::{App, Auth};
use hyper::body::Frame;
use serde_json::{Value, json};

/// A request body delivered in pieces, as a client streaming a file would; `None` in the queue
/// is a connection that breaks at that point.
struct Pieces(VecDeque<Option<Bytes>>);

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.0.pop_front().map(|piece| match piece {
            Some(bytes) => Ok(Frame::data(bytes)),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "client went away",
            )),
        }))
    }
}

fn pieces(content: &[u8], size: usize) -> Body {
    let queue = content
        .chunks(size)
        .map(|c| Some(Bytes::copy_from_slice(c)))
        .collect();
    Body::new(Pieces(queue))
}

struct Fixture {
    app: App,
    tenant: String,
    owner: Auth,
    record: String,
}

async fn fixture() -> Fixture {
    let app = App::new().await;
    let tenant = app.create_tenant("Files Inc").await;
    let owner = app.user(&tenant, "olga@files.test", "owner").await.bearer();
    let schema = json!({ "name": "docs", "schema": { "fields": [
        { "name": "title", "type": "text" }
    ]}});
    let r = app
        .post(
            &format!("/api/v1/tenants/{tenant}/collections"),
            &owner,
            schema,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post(
            &format!("/api/v1/tenants/{tenant}/records/docs"),
            &owner,
            json!({ "title": "with files" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let record = r.body["id"].as_str().expect("id").to_owned();
    Fixture {
        app,
        tenant,
        owner,
        record,
    }
}

impl Fixture {
    fn files(&self) -> String {
        format!(
            "/api/v1/tenants/{}/records/docs/{}/attachments",
            self.tenant, self.record
        )
    }

    async fn upload(&self, query: &str, content_type: Option<&str>, body: Body) -> common::Reply {
        let mut headers = Vec::new();
        if let Some(t) = content_type {
            headers.push(("content-type", t));
        }
        let path = format!("{}{query}", self.files());
        self.app
            .send_raw(Method::POST, &path, &self.owner, &headers, body)
            .await
    }

    /// Every file under both blob directories (blobs and anything unfinished).
    fn blob_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for loc in ["data", "mirror"] {
            let dir = self.app.dir.path().join(loc).join("blobs");
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                out.push(format!("{loc}/{}", entry.file_name().to_string_lossy()));
            }
        }
        out.sort();
        out
    }
}

fn problem_detail(r: &common::Reply) -> String {
    r.body["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_streamed_upload_round_trips_sealed_in_both_locations() {
    let f = fixture().await;
    let canary = b"UPLOAD-CANARY-7f3a91";
    let mut content = Vec::new();
    for i in 0..12_000u32 {
        content.extend_from_slice(canary);
        content.extend_from_slice(&i.to_le_bytes());
    }
    // Pieces that do not line up with the 64 KiB sealing chunks.
    let r = f
        .upload(
            "?name=r%C3%A9sum%C3%A9%20final.pdf",
            Some("application/pdf"),
            pieces(&content, 10_007),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["name"], "résumé final.pdf");
    assert_eq!(r.body["content_type"], "application/pdf");
    assert_eq!(r.body["size"], content.len());
    let id = r.body["id"].as_str().expect("id").to_owned();
    let location = r.headers[header::LOCATION].to_str().expect("location");
    assert_eq!(location, format!("{}/{id}", f.files()));
    assert_eq!(
        f.blob_files(),
        vec![format!("data/{id}"), format!("mirror/{id}")],
        "one sealed file in each location, nothing unfinished"
    );

    let down = f.app.get(location, &f.owner).await;
    assert_eq!(down.status, StatusCode::OK);
    assert!(down.bytes == content, "downloaded bytes differ");
    let h = |name: header::HeaderName| {
        down.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    assert_eq!(h(header::CONTENT_TYPE).as_deref(), Some("application/pdf"));
    assert_eq!(
        h(header::CONTENT_DISPOSITION).as_deref(),
        Some(
            "attachment; filename=\"r_sum_ final.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.pdf"
        )
    );
    assert_eq!(
        h(header::X_CONTENT_TYPE_OPTIONS).as_deref(),
        Some("nosniff")
    );
    assert_eq!(h(header::CACHE_CONTROL).as_deref(), Some("no-store"));
    let csp = h(header::CONTENT_SECURITY_POLICY).unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.ends_with("sandbox"),
        "{csp}"
    );

    let list = f.app.get(&f.files(), &f.owner).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());

    let root = f.app.dir.path();
    assert!(
        common::grep_tree(root, canary).is_empty(),
        "the canary is on disk in plain form"
    );
    assert!(
        common::grep_tree(root, "résumé final".as_bytes()).is_empty(),
        "the file name is on disk in plain form"
    );

    let gone = f.app.send(Method::DELETE, location, &f.owner, None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{:?}", gone.body);
    assert_eq!(
        f.app.get(location, &f.owner).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(f.blob_files().is_empty(), "{:?}", f.blob_files());
}

#[tokio::test]
async fn oversized_files_are_refused_by_the_system_and_the_tenant_limit() {
    let f = fixture().await;
    let limit = records::DEFAULT_MAX_ATTACHMENT as usize;
    // Declared too large: refused before a byte is read.
    let declared = (limit + 1).to_string();
    let r = f
        .app
        .send_raw(
            Method::POST,
            &format!("{}?name=big.zip", f.files()),
            &f.owner,
            &[
                ("content-type", "application/zip"),
                ("content-length", &declared),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert_eq!(r.code(), "file_too_large");
    assert!(
        problem_detail(&r).contains(&limit.to_string()),
        "{:?}",
        r.body
    );
    // Streamed without a length: refused at the byte that crosses the limit.
    let big = vec![b'z'; limit + 1];
    let r = f
        .upload(
            "?name=big.zip",
            Some("application/zip"),
            pieces(&big, 1 << 20),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert!(f.blob_files().is_empty(), "{:?}", f.blob_files());
    // Exactly at the limit is fine.
    let r = f
        .upload(
            "?name=edge.zip",
            Some("application/zip"),
            pieces(&big[..limit], 1 << 20),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // The tenant lowers its own limit.
    let settings = format!("/api/v1/tenants/{}/settings", f.tenant);
    let mut s = f.app.get(&settings, &f.owner).await.body;
    s["attachment_max_bytes"] = json!(1000);
    let r = f
        .app
        .send(Method::PUT, &settings, &f.owner, Some(s.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["attachment_max_bytes"], 1000);
    let r = f
        .upload(
            "?name=a.txt",
            Some("text/plain"),
            pieces(&[b'a'; 1001], 100),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert!(problem_detail(&r).contains("1000 bytes"), "{:?}", r.body);
    let r = f
        .upload(
            "?name=a.txt",
            Some("text/plain"),
            pieces(&[b'a'; 1000], 100),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // A tenant can not set nonsense.
    for bad in [json!(0), json!(2_000_000_000u64), json!(-5), json!("10")] {
        s["attachment_max_bytes"] = bad.clone();
        let r = f
            .app
            .send(Method::PUT, &settings, &f.owner, Some(s.clone()))
            .await;
        assert!(
            matches!(r.status.as_u16(), 400 | 422),
            "{bad}: {} {:?}",
            r.status,
            r.body
        );
    }
    // Two accepted uploads, two files in each location, nothing unfinished.
    assert_eq!(f.blob_files().len(), 4, "{:?}", f.blob_files());
}

#[tokio::test]
async fn wrong_types_and_path_looking_names_are_refused_clearly() {
    let f = fixture().await;
    for content_type in [
        Some("text/html"),
        Some("image/svg+xml"),
        Some("application/x-sh"),
        None,
    ] {
        let r = f
            .upload(
                "?name=x.bin",
                content_type,
                Body::from("<script>alert(1)</script>"),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "unsupported_media_type");
        assert!(
            problem_detail(&r).contains("allowed: application/pdf"),
            "the error lists the allowed types: {:?}",
            r.body
        );
    }
    // Parameters and case do not matter; the stored type is the bare, lower-case one.
    let r = f
        .upload(
            "?name=notes.txt",
            Some("Text/Plain; charset=utf-8"),
            Body::from("hello"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["content_type"], "text/plain");

    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "../secret",
        "a%2Fb.txt",
        "c%3A%5Cboot.ini",
        "%5C%5Cserver%5Cshare",
        "nul%00.txt",
        "line%0Abreak.txt",
        "..",
        ".",
        "",
    ] {
        let r = f
            .upload(
                &format!("?name={name}"),
                Some("text/plain"),
                Body::from("x"),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {:?}",
            r.body
        );
        assert_eq!(r.body["errors"][0]["path"], "name", "{name}: {:?}", r.body);
    }
    for query in ["", "?file=a.txt", "?name=a.txt&name=b.txt"] {
        let r = f.upload(query, Some("text/plain"), Body::from("x")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {:?}", r.body);
        assert_eq!(r.code(), "invalid_query");
    }
    // Ids, never paths: a path-looking attachment id finds nothing.
    for id in ["..%2F..%2Fstate.sqlite", "at_..", "..", "%2e%2e"] {
        let r = f.app.get(&format!("{}/{id}", f.files()), &f.owner).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {:?}", r.body);
    }
    assert_eq!(
        f.blob_files().len(),
        2,
        "only notes.txt: {:?}",
        f.blob_files()
    );
}

#[tokio::test]
async fn an_interrupted_upload_leaves_nothing() {
    let f = fixture().await;
    let mut queue: VecDeque<Option<Bytes>> = (0..5)
        .map(|_| Some(Bytes::from(vec![1u8; 50_000])))
        .collect();
    queue.push_back(None);
    let r = f
        .upload(
            "?name=partial.zip",
            Some("application/zip"),
            Body::new(Pieces(queue)),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.code(), "upload_interrupted");
    assert!(f.blob_files().is_empty(), "{:?}", f.blob_files());
    let list = f.app.get(&f.files(), &f.owner).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn deleting_a_record_deletes_its_files() {
    let f = fixture().await;
    for name in ["a.txt", "b.txt"] {
        let r = f
            .upload(
                &format!("?name={name}"),
                Some("text/plain"),
                Body::from("content"),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    assert_eq!(f.blob_files().len(), 4);
    let record = format!("/api/v1/tenants/{}/records/docs/{}", f.tenant, f.record);
    let r = f.app.send(Method::DELETE, &record, &f.owner, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(f.blob_files().is_empty(), "{:?}", f.blob_files());
    assert_eq!(
        f.app.get(&f.files(), &f.owner).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_document_lists_the_allowed_types() {
    let f = fixture().await;
    let doc: Value = f.app.get("/api/v1/openapi.json", &Auth::None).await.body;
    let path = "/api/v1/tenants/{tenant}/records/{collection}/{record}/attachments";
    let upload = &doc["paths"][path]["post"]["requestBody"]["content"];
    let download =
        &doc["paths"][format!("{path}/{{attachment}}")]["get"]["responses"]["200"]["content"];
    for content in [upload, download] {
        let mut types: Vec<&str> = content
            .as_object()
            .expect("content")
            .keys()
            .map(String::as_str)
            .collect();
        types.sort_unstable();
        let allowed: Vec<&str> = f
            .app
            .state
            .records
            .allowed_types
            .iter()
            .map(String::as_str)
            .collect();
        let mut want = allowed.clone();
        want.sort_unstable();
        assert_eq!(types, want);
    }
}
