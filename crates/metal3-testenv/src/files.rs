//! A tiny HTTP file server on loopback, for BMCs and Ironic that download what they are given
//! (virtual media images, data images).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

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

fn answer(mut stream: TcpStream, body: &[u8]) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
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
}
