//! `compose logs`, and the printer `up` follows its containers with: each
//! container's stream demultiplexed, every line prefixed with the
//! container's name padded to the longest one and ` | ` (coloured per
//! container on a terminal).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Mutex;

use anyhow::Result;
use berth_api::container::Summary;
use berth_api::query;
use berth_api::stdcopy::{Decoder, Stream};
use berth_client::Client;
use berth_compose::engine::label_of;
use berth_compose::labels;
use clap::Args;

use super::{
    Globals, client, colors, compose, failed, project_or_labels, short_name, with_services,
};
use crate::commands::Ctx;
use crate::opts::timestamp;

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    pub services: Vec<String>,
}

/// One container whose log is printed.
#[derive(Clone, Debug)]
pub struct Source {
    pub id: String,
    /// As compose shows it (`web-1`).
    pub name: String,
    pub service: String,
    pub tty: bool,
}

impl Source {
    /// From a list entry; `tty` from an inspect (the list does not say).
    pub fn of(client: &Client, c: &Summary) -> Source {
        let tty = client
            .container_inspect(&c.id, false)
            .map(|i| i.config.tty)
            .unwrap_or(false);
        Source {
            id: c.id.clone(),
            name: short_name(c),
            service: label_of(c, labels::SERVICE).to_string(),
            tty,
        }
    }
}

/// The prefixes' colours, one per container in turn.
const COLORS: &[&str] = &[
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

/// Prints prefixed lines from many threads, one whole line at a time.
pub struct Printer {
    width: usize,
    color: bool,
    prefix: bool,
    colors: BTreeMap<String, &'static str>,
    out: Mutex<()>,
}

impl Printer {
    pub fn new(sources: &[Source], color: bool, prefix: bool) -> Printer {
        let width = sources
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut colors = BTreeMap::new();
        for s in sources {
            let n = colors.len();
            colors
                .entry(s.name.clone())
                .or_insert(COLORS[n % COLORS.len()]);
        }
        Printer {
            width,
            color,
            prefix,
            colors,
            out: Mutex::new(()),
        }
    }

    fn paint(&self, src: &Source, text: &str) -> String {
        match self.colors.get(&src.name) {
            Some(c) if self.color => format!("\x1b[{c}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }

    /// One line of the container's output (without its newline).
    pub fn line(&self, src: &Source, line: &[u8], stderr: bool) {
        let mut buf = Vec::with_capacity(line.len() + self.width + 4);
        if self.prefix {
            let p = format!("{:<w$} |", src.name, w = self.width);
            buf.extend_from_slice(self.paint(src, &p).as_bytes());
            buf.push(b' ');
        }
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let _g = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if stderr {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(&buf);
            let _ = e.flush();
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&buf);
            let _ = o.flush();
        }
    }

    /// A status line of compose's (`web-1 exited with code 0`), on stdout.
    pub fn status(&self, src: &Source, msg: &str) {
        let text = self.paint(src, &format!("{} {msg}", src.name));
        let _g = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{text}");
        let _ = o.flush();
    }

    /// A line of compose's own, uncoloured, on stdout.
    pub fn plain(&self, text: &str) {
        let _g = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{text}");
        let _ = o.flush();
    }
}

/// Splits a stream into lines as it comes.
#[derive(Default)]
struct Lines {
    held: Vec<u8>,
}

impl Lines {
    fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.held.extend_from_slice(data);
        while let Some(i) = self.held.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.held.drain(..=i).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            emit(&line);
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.held.is_empty() {
            let line = std::mem::take(&mut self.held);
            emit(&line);
        }
    }
}

/// Prints one container's log as `q` asks, until its stream ends.
pub fn stream(
    client: &Client,
    src: &Source,
    q: &query::container::Logs,
    p: &Printer,
) -> Result<()> {
    let mut resp = client.container_logs(&src.id, q)?;
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Lines::default();
    let mut err = Lines::default();
    let mut dec = Decoder::new();
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        };
        if src.tty {
            out.push(&buf[..n], |l| p.line(src, l, false));
            continue;
        }
        dec.push(&buf[..n]);
        while let Some((stream, data)) = dec.next_frame()? {
            match stream {
                Stream::Stderr => err.push(&data, |l| p.line(src, l, true)),
                Stream::Systemerr => {
                    anyhow::bail!("{}", String::from_utf8_lossy(&data).trim_end())
                }
                _ => out.push(&data, |l| p.line(src, l, false)),
            }
        }
    }
    out.finish(|l| p.line(src, l, false));
    err.finish(|l| p.line(src, l, true));
    Ok(())
}

pub fn logs(ctx: &Ctx, g: &Globals, a: LogsArgs) -> Result<i32> {
    let client = client(ctx)?;
    let project = with_services(project_or_labels(g, &client)?, &a.services)?;
    let c = compose(&client, project);
    let mut cs = c.service_containers(&a.services, true).map_err(failed)?;
    if let Some(i) = a.index {
        cs.retain(|c| berth_compose::engine::number_of(c) == i);
    }
    let sources: Vec<Source> = cs.iter().map(|c| Source::of(&client, c)).collect();
    let printer = Printer::new(&sources, colors(g) && !a.no_color, !a.no_log_prefix);
    let q = query::container::Logs {
        follow: a.follow,
        stdout: true,
        stderr: true,
        since: a
            .since
            .as_deref()
            .map(timestamp)
            .transpose()?
            .unwrap_or_default(),
        until: a
            .until
            .as_deref()
            .map(timestamp)
            .transpose()?
            .unwrap_or_default(),
        timestamps: a.timestamps,
        tail: a.tail.clone(),
        details: false,
    };
    if !a.follow {
        for s in &sources {
            stream(&client, s, &q, &printer).map_err(|e| super::fail(format!("{e:#}")))?;
        }
        return Ok(0);
    }
    let errors: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = sources
            .iter()
            .map(|s| {
                let (client, q, printer) = (&client, &q, &printer);
                sc.spawn(move || stream(client, s, q, printer))
            })
            .collect();
        hs.into_iter()
            .filter_map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{e:#}")),
                Err(_) => Some("log reader panicked".into()),
            })
            .collect()
    });
    match errors.into_iter().next() {
        Some(e) => Err(super::fail(e)),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_keep_partials() {
        let mut l = Lines::default();
        let mut got = Vec::new();
        l.push(b"one\ntw", |x| {
            got.push(String::from_utf8_lossy(x).into_owned())
        });
        l.push(b"o\r\nthree", |x| {
            got.push(String::from_utf8_lossy(x).into_owned())
        });
        l.finish(|x| got.push(String::from_utf8_lossy(x).into_owned()));
        assert_eq!(got, ["one", "two", "three"]);
    }
}
