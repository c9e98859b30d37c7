//! Static files from a folder: `ServerBuilder::static_dir("/admin/", "ui/dist")`.
//!
//! A request under a folder's URL prefix is a path *inside* that folder, or
//! it is refused. Each segment is percent-decoded on its own, and a segment
//! that decodes to `..`, `.`, or to anything holding a `/`, a `\` or a NUL
//! byte is refused (400), as is an empty segment (`//`, which would make an
//! absolute path). The file found is then resolved with every symbolic link
//! followed, and must still be inside the folder (403 otherwise). Every
//! refusal is logged. Nothing ever lists or reads a folder: a request opens
//! one file by its name, so a folder of 10,000 files costs what one does.
//!
//! Answers: the file with its content type, `Content-Length`, `ETag` and
//! `Last-Modified`, `Cache-Control: no-cache` (a browser asks again each
//! time and gets `304 Not Modified` while the file has not changed);
//! `index.html` for a folder; a `301` to `…/` for a folder named without its
//! trailing slash (so that the page's relative links work); `404`; `HEAD`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use percent_encoding::percent_decode_str;

use super::{Request, Response};

/// The folders a server serves, by URL prefix.
#[derive(Debug, Default, Clone)]
pub struct StaticDirs {
    dirs: Vec<StaticDir>,
}

#[derive(Debug, Clone)]
struct StaticDir {
    /// The URL prefix, ending with `/` (e.g. `/admin/`).
    prefix: String,
    /// The folder, as given; resolved (symbolic links followed) by [`StaticDirs::resolve`].
    root: PathBuf,
}

/// What a request under a static folder gets.
#[derive(Debug)]
pub enum Found {
    /// This file (its resolved path).
    File(PathBuf),
    /// An answer without a file: a redirect, a refusal, a 404.
    Answer(Response),
}

impl StaticDirs {
    /// Serves `root` under `prefix` (a `/` is added to the prefix if missing).
    pub fn add(&mut self, prefix: &str, root: impl Into<PathBuf>) {
        let mut prefix = if prefix.starts_with('/') { prefix.to_string() } else { format!("/{prefix}") };
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        self.dirs.push(StaticDir { prefix, root: root.into() });
    }

    /// Resolves every folder once (at `bind`): a folder that does not exist
    /// is a clear error now, not a 404 for every request later.
    pub fn resolve(&mut self) -> io::Result<()> {
        for dir in &mut self.dirs {
            dir.root = fs::canonicalize(&dir.root).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("static_dir {:?}: cannot open {}: {e}", dir.prefix, dir.root.display()),
                )
            })?;
            if !dir.root.is_dir() {
                return Err(io::Error::other(format!(
                    "static_dir {:?}: {} is not a folder",
                    dir.prefix,
                    dir.root.display()
                )));
            }
        }
        Ok(())
    }

    // ANCHOR: find
    /// The file `path` names, if it is under one of the folders: `None`
    /// when no folder's prefix matches (the request is not ours).
    pub fn find(&self, path: &str) -> Option<Found> {
        let dir = self.dirs.iter().find(|d| path.starts_with(&d.prefix) || path == d.prefix.trim_end_matches('/'))?;
        if path.len() < dir.prefix.len() {
            return Some(Found::Answer(redirect(&dir.prefix))); // `/admin` → `/admin/`
        }
        let mut file = dir.root.clone();
        let rest = &path[dir.prefix.len()..];
        // The empty last segment of `…/` names the folder itself.
        for segment in rest.strip_suffix('/').unwrap_or(rest).split('/').filter(|_| !rest.is_empty()) {
            match decode_segment(segment) {
                Ok(name) => file.push(name),
                Err(why) => return Some(Found::Answer(refuse(400, path, why))),
            }
        }
        if file.is_dir() {
            if !path.ends_with('/') {
                return Some(Found::Answer(redirect(&format!("{path}/"))));
            }
            file.push("index.html");
        }
        // Symbolic links followed: the file itself must still be inside.
        let Ok(real) = fs::canonicalize(&file) else {
            return Some(Found::Answer(Response::refusal(404, format!("no file at {path}"))));
        };
        if !real.starts_with(&dir.root) {
            return Some(Found::Answer(refuse(403, path, "a link out of the folder")));
        }
        if !real.is_file() {
            return Some(Found::Answer(Response::refusal(404, format!("no file at {path}"))));
        }
        Some(Found::File(real))
    }
    // ANCHOR_END: find
}

/// One path segment, percent-decoded; `Err` for a segment that could
/// leave the folder (or is empty: `//` would make an absolute path).
fn decode_segment(segment: &str) -> Result<String, &'static str> {
    if segment.contains('\\') {
        return Err("a backslash in the path");
    }
    let decoded = percent_decode_str(segment).decode_utf8().map_err(|_| "a path that is not UTF-8")?;
    match decoded.as_ref() {
        "" => Err("an empty path segment"),
        "." | ".." => Err("a `.` or `..` segment"),
        name if name.contains(['/', '\\', '\0']) => Err("a `/`, `\\` or NUL inside a path segment"),
        name => Ok(name.to_string()),
    }
}

fn refuse(status: u16, path: &str, why: &str) -> Response {
    log::warn!("static files: refused {status} for {path:?}: {why}");
    Response::refusal(status, format!("{why}: refused"))
}

fn redirect(location: &str) -> Response {
    Response::refusal(301, format!("moved to {location}")).with_header("Location", location)
}

// ANCHOR: send_file
/// Answers `req` with `file`: `304` if the client's copy is current, else
/// the file, streamed from disk (never read whole into memory).
pub fn send_file(stream: &mut impl Write, req: &Request, file: &Path) -> io::Result<u16> {
    let meta = fs::metadata(file)?;
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let etag = format!("W/\"{:x}-{:x}\"", meta.len(), since_epoch.as_secs());
    let current = req.header("If-None-Match").is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag))
        || req
            .header("If-Modified-Since")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .is_some_and(|d| d.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs() >= since_epoch.as_secs());
    let status = if current { 304 } else { 200 };
    let content_type = mime_guess::from_path(file).first_or_octet_stream();
    let charset =
        if content_type.type_() == "text" || content_type.subtype() == "javascript" { "; charset=utf-8" } else { "" };
    let length = if current { 0 } else { meta.len() };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}{charset}\r\nContent-Length: {length}\r\nETag: {etag}\r\nLast-Modified: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        super::status_text(status),
        httpdate::fmt_http_date(modified),
    );
    stream.write_all(head.as_bytes())?;
    if !current && req.method != "HEAD" {
        io::copy(&mut File::open(file)?, stream)?;
    }
    stream.flush()?;
    Ok(status)
}
// ANCHOR_END: send_file

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_that_could_leave_the_folder_are_refused() {
        for bad in ["", "..", ".", "%2e%2e", "%2E%2e", "a%2fb", "a%5cb", "a\\b", "%00", "%ff"] {
            assert!(decode_segment(bad).is_err(), "{bad:?}");
        }
        assert_eq!(decode_segment("caf%C3%A9.txt"), Ok("café.txt".into()));
    }
}
