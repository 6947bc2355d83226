//! The web page of `polyrec serve`, end to end: a small model trained on real
//! MovieLens-100K (two epochs), the service on loopback, its page routes over HTTP, and the page in
//! headless Chromium driven through chromedriver (fantoccini).
//!
//! The browser part needs `chromium` and `chromedriver` (Debian/Ubuntu: `apt-get install
//! chromium chromium-driver`; `scripts/setup.sh` installs them where it may); without them
//! it says so and is skipped, the HTTP part still runs. `POLYREC_CHROMIUM` and
//! `POLYREC_CHROMEDRIVER` name other binaries. Screenshots go to this test's target
//! folder, and to `docs/img/` when `POLYREC_SCREENSHOTS=1`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use polyrec::rank::train::SilentObserver;
use polyrec::serve::{Service, serve};
use polyrec::{Pipeline, Recommender};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The name of the item added over HTTP: it must show as text, never run.
const XSS_NAME: &str = "<script>alert(1)</script> Night Terror";
const XSS_TEXT: &str =
    "Night Terror (1999). Genres: Horror. A scary horror movie about a night train.";

/// Trains the default model (every input family) for two epochs through the facade's
/// pipeline into `dir`, as `polyrec train` does (metrics.json, curves.svg, scenarios.svg).
fn train(dir: &Path) -> Res<Recommender> {
    let mut pipeline =
        Pipeline::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-100k.toml"));
    pipeline.run.train.epochs = 2;
    pipeline.run.train.ensemble = 1;
    pipeline.device = polyrec::rank::DeviceRequest::Cpu;
    Ok(pipeline.run(dir, &mut SilentObserver)?.recommender)
}

/// An executable on `PATH` (or the one an environment variable names).
fn executable(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// An HTTP answer: status, lower-cased header names with values, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 GET with `Connection: close`.
fn get(addr: &str, path: &str) -> Res<Answer> {
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8(raw[..split].to_vec())?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("no status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, raw[split + 4..].to_vec()))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn get_json(addr: &str, path: &str) -> Res<(u16, Value)> {
    let (status, headers, body) = get(addr, path)?;
    assert!(
        header(&headers, "content-type").starts_with("application/json"),
        "{path}: {headers:?}"
    );
    Ok((status, serde_json::from_slice(&body)?))
}

/// The page routes over plain HTTP: headers, bounds, errors naming the field, no way out
/// of the model directory.
fn check_http(addr: &str, model_dir: &Path) -> Res<()> {
    let (status, headers, body) = get(addr, "/")?;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    let policy = header(&headers, "content-security-policy");
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(String::from_utf8(body)?.contains("/assets/app.js"));
    for (path, kind) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let (status, headers, _) = get(addr, path)?;
        assert_eq!(status, 200, "{path}");
        assert!(header(&headers, "content-type").starts_with(kind), "{path}");
    }

    let (status, v) = get_json(addr, "/users?prefix=19&limit=5")?;
    assert_eq!(status, 200, "{v}");
    let users: Vec<&str> = v["users"]
        .as_array()
        .ok_or("users")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(users.len(), 5, "{v}");
    assert!(users.iter().all(|u| u.starts_with("19")), "{v}");
    assert_eq!(v["more"], true);
    for (path, status, field) in [
        ("/users?limit=0", 422, "limit"),
        ("/users?limit=1000", 422, "limit"),
        ("/users?limit=many", 400, "limit"),
        ("/users?bogus=1", 400, "bogus"),
        ("/users/nobody", 404, "id"),
        ("/users/196?limit=0", 422, "limit"),
        ("/model/plots/metrics.json", 404, "name"),
        ("/model/plots/..%2Fmetrics.json", 404, "name"),
        ("/model/plots/..%2F..%2F..%2Fetc%2Fpasswd", 404, "name"),
        ("/model/plots/%2Fetc%2Fpasswd", 404, "name"),
    ] {
        let (got, v) = get_json(addr, path)?;
        assert_eq!(got, status, "{path}: {v}");
        assert_eq!(v["field"], field, "{path}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let (status, v) = get_json(addr, "/no/such/route")?;
    assert_eq!(status, 404);
    assert!(v["error"].is_string());

    let (status, v) = get_json(addr, "/users/196")?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"], "196");
    assert!(
        v["attributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"] == "age")),
        "{v}"
    );
    let history = v["history"].as_array().ok_or("history")?;
    assert_eq!(history.len(), polyrec::web::users::DEFAULT_LIMIT);
    assert!(v["interactions"].as_u64().is_some_and(|n| n > 20), "{v}");
    assert!(
        history
            .iter()
            .all(|h| h["name"].as_str().is_some_and(|n| !n.is_empty()))
    );
    let times: Vec<i64> = history
        .iter()
        .filter_map(|h| h["timestamp"].as_i64())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "not newest first");

    let (status, v) = get_json(addr, "/model")?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["plots"], json!(["curves.svg", "scenarios.svg"]));
    assert!(v["metrics"]["overall"]["like"]["auc"].is_number(), "{v}");
    assert!(v["config"].as_str().is_some_and(|c| c.contains("[model]")));
    let tasks: Vec<&str> = v["tasks"]
        .as_array()
        .ok_or("tasks")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tasks.contains(&"like") && tasks.contains(&"rating"), "{v}");
    // Without friend or topic models, items are the only type a request can ask for.
    assert_eq!(v["types"], json!(["items"]), "{v}");
    for plot in ["curves.svg", "scenarios.svg"] {
        let (status, headers, body) = get(addr, &format!("/model/plots/{plot}"))?;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), "image/svg+xml");
        assert!(header(&headers, "content-security-policy").contains("sandbox"));
        assert_eq!(body, std::fs::read(model_dir.join(plot))?);
    }
    Ok(())
}

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(chromedriver: &Path) -> Res<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t.elapsed() > Duration::from_secs(30) {
                return Err("chromedriver did not start listening within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it gives a value, for at most `secs` seconds.
async fn until<T, F, Fut>(what: &str, secs: u64, mut f: F) -> Res<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Res<Option<T>>>,
{
    let t = Instant::now();
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if t.elapsed() > Duration::from_secs(secs) {
            return Err(format!("timed out after {secs} s waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn css(c: &Client, selector: &str) -> Res<fantoccini::elements::Element> {
    Ok(c.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(selector))
        .await?)
}

async fn js(c: &Client, script: &str) -> Res<Value> {
    Ok(c.execute(script, vec![]).await?)
}

/// The error banner's messages (empty when it is hidden).
async fn banner(c: &Client) -> Res<Vec<String>> {
    let v = js(
        c,
        "const b = document.getElementById('errors');
         return b.hidden ? [] : [...b.querySelectorAll('li')].map(li => li.textContent);",
    )
    .await?;
    Ok(serde_json::from_value(v)?)
}

async fn results(c: &Client, n: usize) -> Res<Vec<fantoccini::elements::Element>> {
    until(&format!("{n} results"), 120, || async {
        let errors = banner(c).await?;
        if !errors.is_empty() {
            return Err(format!("the page shows errors: {errors:?}").into());
        }
        let items = c.find_all(Locator::Css("#results > li.result")).await?;
        Ok((items.len() == n).then_some(items))
    })
    .await
}

fn save_screenshot(name: &str, png: &[u8]) -> Res<()> {
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), png)?;
    if std::env::var_os("POLYREC_SCREENSHOTS").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/img");
        std::fs::create_dir_all(&docs)?;
        std::fs::write(docs.join(name), png)?;
    }
    Ok(())
}

/// The recommend view: pick user 196, ask for a scary horror movie, read 10 results with
/// reasons; then an item whose name is markup shows as text; a bad user is reported.
async fn check_recommend_page(c: &Client, base: &str, addr: &str) -> Res<()> {
    c.goto(&format!("{base}/")).await?;
    // The task weights come from the model.
    css(c, "#weights input[data-task='like']").await?;
    css(c, "#user-search").await?.send_keys("196").await?;
    css(c, "button.suggestion[data-user='196']")
        .await?
        .click()
        .await?;
    css(c, "#user-card .history li").await?;
    let card = css(c, "#user-card").await?.text().await?;
    assert!(card.contains("User 196") && card.contains("age"), "{card}");
    css(c, "#query")
        .await?
        .send_keys("a scary horror movie")
        .await?;
    css(c, "#submit").await?.click().await?;
    let items = results(c, 10).await?;
    let mut graph = 0;
    for it in &items {
        let reasons = it.find_all(Locator::Css(".reasons > li.reason")).await?;
        assert!(!reasons.is_empty(), "a result without reasons");
        graph += it.find_all(Locator::Css("ol.path li.step")).await?.len();
        let scores = it.find_all(Locator::Css(".scores .chip")).await?;
        assert!(scores.len() >= 2, "per-task scores missing");
    }
    assert!(graph > 0, "no knowledge-graph path drawn");
    // A service without friend or topic models shows no type choice and no such lists.
    let hidden = js(
        c,
        "return ['types', 'friends-block', 'topics-block'].map((id) => document.getElementById(id).hidden)",
    )
    .await?;
    assert_eq!(hidden, json!([true, true, true]));
    let marked: Vec<String> = serde_json::from_value(
        js(
            c,
            "return [...document.querySelectorAll('#results .reason.text mark')].map(m => m.textContent.toLowerCase());",
        )
        .await?,
    )?;
    assert!(
        marked.iter().any(|w| w == "horror" || w == "scary"),
        "no request word marked: {marked:?}"
    );
    let status = css(c, "#results-status").await?.text().await?;
    assert!(status.contains("user 196"), "{status}");
    save_screenshot("web-recommend.png", &c.screenshot().await?)?;

    // An item whose name is markup, added over HTTP, is shown as text.
    let mut http = polyrec::serve::Client::connect(addr)?;
    let body = json!({"id": "xss-1", "name": XSS_NAME, "text": XSS_TEXT}).to_string();
    let (status, answer) = http.send("POST", "/items", body.as_bytes())?;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    let query = css(c, "#query").await?;
    query.clear().await?;
    query.send_keys(XSS_TEXT).await?;
    let k = css(c, "#k").await?;
    k.clear().await?;
    k.send_keys("50").await?;
    css(c, "#submit").await?.click().await?;
    results(c, 50).await?;
    let name = css(c, "li.result[data-item='xss-1'] .name")
        .await?
        .text()
        .await?;
    assert_eq!(name, XSS_NAME);
    let scripts = js(c, "return document.querySelectorAll('script').length;").await?;
    assert_eq!(scripts, json!(1), "a script element was injected");
    assert!(
        c.get_alert_text().await.is_err(),
        "an alert is open: the item name ran"
    );
    assert!(banner(c).await?.is_empty());

    // A failed request is shown, naming the field, and the field is flagged.
    let user = css(c, "#user-search").await?;
    user.clear().await?;
    user.send_keys("nobody").await?;
    css(c, "#submit").await?.click().await?;
    let errors = until("the error banner", 30, || async {
        let e = banner(c).await?;
        Ok((!e.is_empty()).then_some(e))
    })
    .await?;
    assert!(
        errors[0].contains("422") && errors[0].contains("user"),
        "{errors:?}"
    );
    assert_eq!(
        css(c, "#user-search").await?.attr("aria-invalid").await?,
        Some("true".into())
    );
    css(c, "#errors-clear").await?.click().await?;

    // A new user known only by a profile text.
    css(c, "input[name='mode'][value='profile']")
        .await?
        .click()
        .await?;
    css(c, "#profile")
        .await?
        .send_keys("I love scary horror films and slasher movies")
        .await?;
    k.clear().await?;
    k.send_keys("5").await?;
    css(c, "#submit").await?.click().await?;
    results(c, 5).await?;
    let status = css(c, "#results-status").await?.text().await?;
    assert!(status.contains("a new user"), "{status}");
    Ok(())
}

/// The model view shows every scenario of metrics.json, the plots and the config.
async fn check_model_page(c: &Client, base: &str, model_dir: &Path) -> Res<()> {
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("metrics.json"))?)?;
    let want: BTreeSet<String> = metrics
        .as_object()
        .ok_or("metrics")?
        .keys()
        .cloned()
        .collect();
    assert!(want.len() >= 4, "{want:?}");
    c.goto(&format!("{base}/#model")).await?;
    css(c, "#metrics table").await?;
    let shown: BTreeSet<String> = serde_json::from_value(
        js(
            c,
            "return [...document.querySelectorAll('#metrics th[scope=row]')].map(th => th.textContent);",
        )
        .await?,
    )?;
    assert_eq!(shown, want, "scenarios in the metrics tables");
    let tables = c.find_all(Locator::Css("#metrics table")).await?;
    assert!(tables.len() >= 2, "one table per task");
    let loaded = until("the plots", 30, || async {
        let v = js(
            c,
            "return [...document.querySelectorAll('#plots img')].map(i => i.complete && i.naturalWidth > 0);",
        )
        .await?;
        let v: Vec<bool> = serde_json::from_value(v)?;
        Ok((v.len() == 2 && v.iter().all(|b| *b)).then_some(v))
    })
    .await?;
    assert_eq!(loaded.len(), 2);
    let config = css(c, "#config").await?.text().await?;
    assert!(config.contains("[model]"), "{config}");
    assert!(banner(c).await?.is_empty());
    save_screenshot("web-model.png", &c.screenshot().await?)?;
    Ok(())
}

/// On a phone-sized window nothing is wider than the screen.
async fn check_narrow(c: &Client, base: &str) -> Res<()> {
    c.set_window_size(390, 844).await?;
    for view in ["", "#model"] {
        c.goto(&format!("{base}/{view}")).await?;
        css(c, "#weights input").await?;
        let fits = js(
            c,
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
        )
        .await?;
        assert_eq!(fits, json!(true), "the page `{view}` scrolls sideways");
    }
    save_screenshot("web-narrow.png", &c.screenshot().await?)?;
    Ok(())
}

#[test]
fn the_web_page_recommends_explains_escapes_and_shows_the_model() -> Res<()> {
    let chromedriver = executable("POLYREC_CHROMEDRIVER", &["chromedriver"]);
    let chromium = executable(
        "POLYREC_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let dir = tempfile::tempdir()?;
    let rec = train(dir.path())?;
    let service = Arc::new(Service::new(vec![rec])?.with_model_dir(dir.path()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(service, listener, async {
        let _ = stopped.await;
    }));
    check_http(&addr, dir.path())?;

    let (Some(chromedriver), Some(chromium)) = (chromedriver, chromium) else {
        eprintln!(
            "SKIPPED the browser part of the web page test: it needs chromium and chromedriver \
             on PATH (Debian/Ubuntu: `apt-get install chromium chromium-driver`, which \
             scripts/setup.sh runs where it may; or set POLYREC_CHROMIUM and POLYREC_CHROMEDRIVER)"
        );
        let _ = stop.send(());
        rt.block_on(server)??;
        return Ok(());
    };
    let driver = Driver::start(&chromedriver)?;
    let profile = tempfile::tempdir()?;
    let base = format!("http://{addr}");
    let outcome: Res<()> = rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1400", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await?;
        let checked = async {
            check_recommend_page(&c, &base, &addr).await?;
            check_model_page(&c, &base, dir.path()).await?;
            check_narrow(&c, &base).await
        }
        .await;
        let _ = c.close().await;
        checked
    });
    drop(driver);
    let _ = stop.send(());
    rt.block_on(server)??;
    outcome
}
