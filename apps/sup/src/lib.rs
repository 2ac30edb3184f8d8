//! Runs one maintenance function on a faxd node: `sup [--admin URL] [--json] MODULE FUNCTION ARGS...`.
//!
//! Kazoo's `sup` reaches a node over Erlang distribution; this one posts to the node's admin endpoint
//! (`[admin] listen` in faxd.toml, `http://127.0.0.1:19100` by default). People get plain values, `{ok, ...}`
//! tuples and tables; scripts pass `--json` and get the node's JSON reply. The exit status is 0 on success, 1
//! when the node refused or failed, 2 when no node answered.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "sup",
    version,
    about = "Run a maintenance function on a Faxbox node",
    after_help = "Examples:\n  sup kapps_config get fax default_smtp_domain\n  sup kapps_config set fax default_smtp_domain fax.example.com\n  sup crossbar_maintenance create_account Acme acme.example.com admin@acme.example.com secret\n  sup kapps_util get_master_account_id"
)]
struct Args {
    /// The node's admin endpoint.
    #[arg(long, env = "FAXD_ADMIN", default_value = "http://127.0.0.1:19100")]
    admin: String,
    /// Print the node's reply as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the node's reply.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Module, e.g. kapps_config.
    module: String,
    /// Function, e.g. get.
    function: String,
    /// Arguments of the function.
    args: Vec<String>,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "undefined".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a reply for people.
fn render(reply: &Value) -> String {
    match reply.get("kind").and_then(Value::as_str) {
        Some("value") => cell(&reply["value"]),
        Some("ok") => format!("{{ok, {}}}", cell(&reply["value"])),
        Some("message") => cell(&reply["text"]),
        Some("table") => {
            let columns: Vec<String> =
                reply["columns"].as_array().map(|c| c.iter().map(cell).collect()).unwrap_or_default();
            let rows: Vec<Vec<String>> = reply["rows"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| r.as_array().map(|r| r.iter().map(cell).collect()).unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default();
            table(&columns, &rows)
        }
        _ => reply.to_string(),
    }
}

/// An ASCII table like Kazoo's maintenance output.
fn table(columns: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| format!(" {:<w$} ", cells.get(i).map(String::as_str).unwrap_or("")))
            .collect();
        format!("|{}|", parts.join("|"))
    };
    let rule = format!("+{}+", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    let mut out = vec![rule.clone(), line(columns), rule.clone()];
    out.extend(rows.iter().map(|r| line(r)));
    out.push(rule);
    if rows.is_empty() {
        out.push("(no rows)".into());
    }
    out.join("\n")
}

async fn call(args: &Args) -> Result<(u16, Value), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let url = format!("{}/sup", args.admin.trim_end_matches('/'));
    let body = json!({"module": args.module, "function": args.function, "args": args.args});
    let resp = client.post(&url).json(&body).send().await.map_err(|e| {
        if e.is_timeout() {
            format!("the node at {} did not answer within {} s", args.admin, args.timeout)
        } else {
            format!("no faxd node answers at {} (is it running? set --admin or FAXD_ADMIN)", args.admin)
        }
    })?;
    let status = resp.status().as_u16();
    let value = resp.json::<Value>().await.map_err(|e| format!("the node at {} sent a bad reply: {e}", args.admin))?;
    Ok((status, value))
}

/// Parses the command line and runs the call; the binary's whole `main`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sup: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(call(&args)) {
        Err(e) => {
            eprintln!("sup: {e}");
            ExitCode::from(2)
        }
        Ok((_, value)) => {
            let ok = value.get("ok").and_then(Value::as_bool).unwrap_or(false);
            if args.json {
                println!("{value}");
            } else if ok {
                println!("{}", render(&value["reply"]));
            } else {
                eprintln!("sup: {}", value.get("error").map(cell).unwrap_or_else(|| value.to_string()));
            }
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_kazoo_style() {
        assert_eq!(render(&json!({"kind": "value", "value": "fax.kazoo.io"})), "fax.kazoo.io");
        assert_eq!(render(&json!({"kind": "value", "value": null})), "undefined");
        assert_eq!(render(&json!({"kind": "value", "value": 10})), "10");
        assert_eq!(render(&json!({"kind": "ok", "value": "abc"})), "{ok, abc}");
        assert_eq!(render(&json!({"kind": "message", "text": "done"})), "done");
    }

    #[test]
    fn renders_tables() {
        let t = render(&json!({"kind": "table", "columns": ["Job", "To"], "rows": [["j1", "+1555"], ["job2", null]]}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "+------+-----------+");
        assert_eq!(lines[1], "| Job  | To        |");
        assert_eq!(lines[3], "| j1   | +1555     |");
        assert_eq!(lines[4], "| job2 | undefined |");
        assert!(render(&json!({"kind": "table", "columns": ["A"], "rows": []})).ends_with("(no rows)"));
    }
}
