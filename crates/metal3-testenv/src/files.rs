//! A tiny HTTP file server on loopback, for BMCs, Ironic and agents that download what they
//! are given (virtual media images, data images, disk images).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

/// Serves `body` to every GET (headers only to HEAD) on a free loopback port, from a
/// background thread that lives as long as the process; returns `http://127.0.0.1:<port>`.
pub fn serve_bytes(body: &'static [u8]) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream, body));
        }
    });
    Ok(format!("http://127.0.0.1:{port}"))
}

/// Serves the files directly in `dir` (`GET /<name>`, streamed; 404 for anything else) on a
/// free loopback port, from a background thread that lives as long as the process; returns
/// `http://127.0.0.1:<port>`.
pub fn serve_dir(dir: impl Into<PathBuf>) -> std::io::Result<String> {
    let dir: PathBuf = dir.into();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || answer_file(stream, &dir));
        }
    });
    Ok(format!("http://127.0.0.1:{port}"))
}

/// The request's head, or `None` when the client went away first.
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    Some(request)
}

/// The file a request line names in `dir`: a plain file name only.
fn requested(dir: &Path, request: &[u8]) -> Option<PathBuf> {
    let line = std::str::from_utf8(request).ok()?.lines().next()?;
    let path = line.split(' ').nth(1)?.strip_prefix('/')?;
    let ok = !path.is_empty()
        && !path.starts_with('.')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| dir.join(path)).filter(|p| p.is_file())
}

fn answer_file(mut stream: TcpStream, dir: &Path) {
    let Some(request) = read_head(&mut stream) else {
        return;
    };
    let file = requested(dir, &request).and_then(|p| std::fs::File::open(p).ok());
    let len = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.len());
    let (Some(mut file), Some(len)) = (file, len) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_ok() && !request.starts_with(b"HEAD ") {
        let _ = std::io::copy(&mut file, &mut stream);
    }
}

fn answer(mut stream: TcpStream, body: &[u8]) {
    let Some(request) = read_head(&mut stream) else {
        return;
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if !request.starts_with(b"HEAD ") {
        let _ = stream.write_all(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_bytes() {
        let url = serve_bytes(b"hello").expect("serve");
        let addr = url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /x.iso HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("read");
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");
    }

    fn get(url: &str, path: &str) -> String {
        let mut s = TcpStream::connect(url.trim_start_matches("http://")).expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .expect("write");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("read");
        reply
    }

    #[test]
    fn serves_the_files_of_a_directory_and_nothing_else() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("image.raw"), b"disk").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("dir");
        let url = serve_dir(dir.path()).expect("serve");
        let ok = get(&url, "/image.raw");
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("Content-Length: 4\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\ndisk"), "{ok}");
        for missing in ["/nothing.raw", "/../etc/passwd", "/sub", "/"] {
            let reply = get(&url, missing);
            assert!(reply.starts_with("HTTP/1.1 404"), "{missing}: {reply}");
        }
    }
}
