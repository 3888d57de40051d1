//! The command line against a running server: `--server URL` (`SUPERVISE_SERVER`) with an API
//! token (`SUPERVISE_TOKEN`, from `supervise tokens create`). The server enforces the token
//! owner's role and region exactly as for the dashboard; nothing is read from a local store.
//! Triage, the clue queue, datasets and uploads, runs, the registry's reviews and the audit
//! trail have remote forms; `supervise api` reaches any route of `/api/v1`.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::clues::query::ClueRow;

use super::clues::{CluesCommand, FilterArgs, date_ms, done, print_page};
use super::data::DataCommand;
use super::registry::{AuditArgs, AuditCommand, Decision, RegistryCommand};
use super::runs::{ListArgs, RunsArgs};
use super::{Cli, CliError, Command, ModelCommand, print};

/// `supervise api METHOD PATH`: any route of the API, answered as JSON.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// GET, POST or DELETE.
    pub method: String,
    /// The route under `/api/v1`, with its query (e.g. `/clues?status=new&sort=score`).
    pub path: String,
    /// A JSON body, or `@FILE` to read it from a file.
    #[arg(long)]
    pub data: Option<String>,
}

/// A server and the token to show it.
pub struct Remote {
    agent: ureq::Agent,
    base: String,
    authorization: String,
}

/// How long one request may take (an upload of a large import takes a while).
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Largest answer read.
const MAX_ANSWER: u64 = 256 << 20;

impl Remote {
    /// A client for `server` (`http://host:port`), authenticated by `token`.
    pub fn new(server: &str, token: Option<&str>) -> Result<Remote, CliError> {
        let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            CliError::Usage(
                "--server needs an API token: set SUPERVISE_TOKEN (or --token) to one from `supervise tokens create`"
                    .into(),
            )
        })?;
        let base = server.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(CliError::Usage(format!(
                "--server {server}: this client speaks plain HTTP (http://HOST:PORT); to reach a server behind a TLS proxy, tunnel to it (ssh -L)"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into();
        Ok(Remote {
            agent,
            base: format!("{base}/api/v1"),
            authorization: format!("Bearer {}", token.trim()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// Reads an answer: its JSON on 2xx, the API's error otherwise.
    fn answer(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, CliError> {
        let mut resp =
            result.map_err(|e| CliError::Usage(format!("cannot reach {}: {e}", self.base)))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| CliError::Usage(format!("cannot read the server's answer: {e}")))?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let error = &body["error"];
        Err(CliError::Api {
            status,
            message: error["message"]
                .as_str()
                .map_or_else(|| body.to_string(), str::to_string),
            details: error["details"].clone(),
        })
    }

    /// GET a route.
    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        let r = self
            .agent
            .get(self.url(path))
            .header("Authorization", &self.authorization)
            .call();
        self.answer(r)
    }

    /// POST JSON to a route.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let r = self
            .agent
            .post(self.url(path))
            .header("Authorization", &self.authorization)
            .send_json(body);
        self.answer(r)
    }

    /// DELETE a route.
    pub fn delete(&self, path: &str) -> Result<Value, CliError> {
        let r = self
            .agent
            .delete(self.url(path))
            .header("Authorization", &self.authorization)
            .call();
        self.answer(r)
    }

    /// POSTs a file as `multipart/form-data` (streamed from disk) with text fields.
    pub fn upload(
        &self,
        path: &str,
        fields: &[(&str, String)],
        file: &Path,
    ) -> Result<Value, CliError> {
        let read_err = |source| CliError::Read {
            path: file.to_path_buf(),
            source,
        };
        let f = File::open(file).map_err(read_err)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"))
            .unwrap_or_else(|| "upload".into());
        let boundary = format!("supervise-{:016x}", crate::store::now_ms());
        let mut head = String::new();
        for (k, v) in fields {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = format!("\r\n--{boundary}--\r\n");
        let body = Cursor::new(head.into_bytes())
            .chain(f)
            .chain(Cursor::new(tail.into_bytes()));
        let r = self
            .agent
            .post(self.url(path))
            .header("Authorization", &self.authorization)
            .header(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send(ureq::SendBody::from_owned_reader(body));
        self.answer(r)
    }
}

/// Query parameters, URL-encoded (`None` values left out).
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let present: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
        .collect();
    match serde_urlencoded::to_string(&present) {
        Ok(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

fn clue_query(f: &FilterArgs, limit: i64, offset: i64) -> Result<String, CliError> {
    let text = |v: &Option<String>| v.clone();
    let num = |v: Option<f64>| v.map(|x| x.to_string());
    let ms = |v: &Option<String>| -> Result<Option<String>, CliError> {
        Ok(v.as_deref()
            .map(date_ms)
            .transpose()?
            .map(|m| m.to_string()))
    };
    Ok(query(&[
        ("model", text(&f.model)),
        ("source", text(&f.source)),
        ("region", text(&f.region)),
        ("status", (!f.status.is_empty()).then(|| f.status.join(","))),
        ("min_score", num(f.min_score)),
        ("max_score", num(f.max_score)),
        ("seen_from_ms", ms(&f.seen_from)?),
        ("seen_to_ms", ms(&f.seen_to)?),
        ("overdue", f.overdue.then(|| "true".to_string())),
        ("assignee", text(&f.assignee)),
        ("text", text(&f.text)),
        ("sort", Some(f.sort.clone())),
        ("limit", Some(limit.to_string())),
        ("offset", Some(offset.to_string())),
    ]))
}

/// Runs a command against the server named by `--server`.
pub fn run(cli: &Cli, server: &str) -> Result<ExitCode, CliError> {
    let r = Remote::new(server, cli.token.as_deref())?;
    match &cli.command {
        Command::Api(a) => api(&r, a),
        Command::Clues(c) => clues(&r, c),
        Command::Data(c) => data(&r, c),
        Command::Runs(RunsArgs {
            command: None,
            list,
        }) => runs(&r, list),
        Command::Audit(a) => audit(&r, a),
        Command::Model(ModelCommand::Registry(c)) => registry(&r, c),
        _ => Err(not_remote()),
    }
}

fn not_remote() -> CliError {
    CliError::Usage(
        "this command works on the server's own machine only (drop --server); remotely, `supervise api` reaches every route of /api/v1"
            .into(),
    )
}

fn api(r: &Remote, a: &ApiArgs) -> Result<ExitCode, CliError> {
    let body = match a.data.as_deref() {
        None => None,
        Some(d) => {
            let text = match d.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path).map_err(|source| CliError::Read {
                    path: path.into(),
                    source,
                })?,
                None => d.to_string(),
            };
            Some(
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| CliError::Usage(format!("--data is not JSON: {e}")))?,
            )
        }
    };
    let v = match (a.method.to_ascii_uppercase().as_str(), body) {
        ("GET", None) => r.get(&a.path)?,
        ("DELETE", None) => r.delete(&a.path)?,
        ("POST", body) => r.post(&a.path, &body.unwrap_or(json!({})))?,
        ("GET" | "DELETE", Some(_)) => {
            return Err(CliError::Usage(format!("{} takes no --data", a.method)));
        }
        (m, _) => {
            return Err(CliError::Usage(format!(
                "method `{m}`: use GET, POST or DELETE"
            )));
        }
    };
    if !v.is_null() {
        print::json(&v);
    }
    Ok(ExitCode::SUCCESS)
}

fn action(r: &Remote, ids: &[i64], verb: &str, body: Value) -> Result<ExitCode, CliError> {
    let mut body = body;
    body["ids"] = json!(ids);
    let v = r.post("/clues/actions", &body)?;
    let status = v["status"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CliError::Usage(format!("unexpected answer: {v}")))?;
    done(verb, ids, status);
    Ok(ExitCode::SUCCESS)
}

fn clues(r: &Remote, c: &CluesCommand) -> Result<ExitCode, CliError> {
    match c {
        CluesCommand::List {
            filter,
            limit,
            offset,
            json,
        } => {
            let v = r.get(&format!("/clues{}", clue_query(filter, *limit, *offset)?))?;
            if *json {
                print::json(&v);
            } else {
                let rows: Vec<ClueRow> = serde_json::from_value(v["clues"].clone())
                    .map_err(|e| CliError::Usage(format!("unexpected answer: {e}")))?;
                let more = if v["total_exact"] == json!(false) {
                    "+"
                } else {
                    ""
                };
                print_page(&rows, &format!("{}{more}", v["total"]));
            }
        }
        CluesCommand::Show { id, .. } => print::json(&r.get(&format!("/clues/{id}"))?),
        CluesCommand::Assign { ids, to } => {
            return action(r, ids, "assigned", json!({"action": "assign", "to": to}));
        }
        CluesCommand::Verify { ids } => {
            return action(r, ids, "verifying", json!({"action": "verify"}));
        }
        CluesCommand::Confirm { ids, note } => {
            return action(
                r,
                ids,
                "confirmed",
                json!({"action": "confirm", "note": note}),
            );
        }
        CluesCommand::FileCase { ids, note } => {
            let body = json!({"action": "file-case", "note": note});
            return action(r, ids, "filed a case on", body);
        }
        CluesCommand::Transfer { ids, agency } => {
            let body = json!({"action": "transfer", "agency": agency});
            return action(r, ids, "transferred", body);
        }
        CluesCommand::Dismiss { ids, reason, note } => {
            let body = json!({"action": "dismiss", "reason": reason, "note": note});
            return action(r, ids, "dismissed", body);
        }
        CluesCommand::Comment { id, text } => {
            r.post(&format!("/clues/{id}/comments"), &json!({"text": text}))?;
            println!("comment added to clue {id}");
        }
        CluesCommand::Stats { model, level, .. } => {
            let q = query(&[("model", model.clone()), ("level", Some(level.clone()))]);
            print::json(&r.get(&format!("/stats/feedback{q}"))?);
        }
        _ => return Err(not_remote()),
    }
    Ok(ExitCode::SUCCESS)
}

fn data(r: &Remote, c: &DataCommand) -> Result<ExitCode, CliError> {
    match c {
        DataCommand::List { json } => {
            let v = r.get("/datasets")?;
            if *json {
                print::json(&v);
            } else {
                for d in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<28} {:>7} {:>8} {:>12}  {}",
                        d["name"].as_str().unwrap_or(""),
                        d["version"],
                        d["imports"],
                        d["rows"],
                        d["description"].as_str().unwrap_or("")
                    );
                }
            }
        }
        DataCommand::Import(a) => {
            let mut fields = vec![(
                "mode",
                match a.mode {
                    crate::datasets::import::Mode::Append => "append",
                    crate::datasets::import::Mode::Replace => "replace",
                }
                .to_string(),
            )];
            if let Some(v) = a.schema_version {
                fields.push(("schema_version", v.to_string()));
            }
            if let Some(f) = &a.format {
                fields.push(("format", f.clone()));
            }
            let path = format!("/datasets/{}/imports", a.dataset);
            let v = r.upload(&path, &fields, &a.file)?;
            if a.json {
                print::json(&v);
            } else {
                println!(
                    "imported {} rows into `{}` as import {} (schema version {})",
                    v["rows"], a.dataset, v["id"], v["schema_version"]
                );
            }
        }
        DataCommand::Define { .. } | DataCommand::Files { .. } => return Err(not_remote()),
    }
    Ok(ExitCode::SUCCESS)
}

fn runs(r: &Remote, l: &ListArgs) -> Result<ExitCode, CliError> {
    if l.backtest.is_some() {
        return Err(not_remote());
    }
    let q = query(&[
        ("model", l.model.clone()),
        ("region", l.region.clone()),
        ("status", l.status.clone()),
        ("kind", l.kind.clone()),
        ("limit", Some(l.limit.to_string())),
    ]);
    print::json(&r.get(&format!("/runs{q}"))?);
    Ok(ExitCode::SUCCESS)
}

fn audit(r: &Remote, a: &AuditArgs) -> Result<ExitCode, CliError> {
    if let Some(AuditCommand::Verify) = a.command {
        let v = r.get("/audit/verify")?;
        print::json(&v);
        return Ok(if v["problem"].is_null() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let q = query(&[
        ("subject", a.subject.clone()),
        ("limit", Some(a.limit.clamp(1, 1000).to_string())),
    ]);
    print::json(&r.get(&format!("/audit{q}"))?);
    Ok(ExitCode::SUCCESS)
}

fn registry(r: &Remote, c: &RegistryCommand) -> Result<ExitCode, CliError> {
    let decide = |d: &Decision, approve: bool| -> Result<ExitCode, CliError> {
        let (model, version) = d.version.split_once('@').ok_or_else(|| {
            CliError::Usage(format!("`{}`: name a version as MODEL@VERSION", d.version))
        })?;
        r.post(
            &format!("/versions/{model}/{version}/decision"),
            &json!({"approve": approve, "reason": d.reason}),
        )?;
        println!(
            "{} {}",
            if approve { "approved" } else { "rejected" },
            d.version
        );
        Ok(ExitCode::SUCCESS)
    };
    match c {
        RegistryCommand::Versions { model } => {
            print::json(&r.get(&format!("/versions{}", query(&[("model", model.clone())])))?);
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Approve(d) => decide(d, true),
        RegistryCommand::Reject(d) => decide(d, false),
        _ => Err(not_remote()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_and_sparse() {
        assert_eq!(
            query(&[("text", Some("a&b c".into())), ("model", None)]),
            "?text=a%26b+c"
        );
        assert_eq!(query(&[("model", None)]), "");
    }

    #[test]
    fn a_server_needs_a_token_and_plain_http() {
        assert!(Remote::new("http://h:1", None).is_err());
        assert!(Remote::new("https://h:1", Some("svt_x")).is_err());
        let r = Remote::new("http://h:1/", Some("svt_x")).expect("remote");
        assert_eq!(r.url("/clues"), "http://h:1/api/v1/clues");
    }
}
