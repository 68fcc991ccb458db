//! A TCP proxy in front of the broker, to take it away and bring it back: while cut it
//! closes every connection it carries and refuses new ones, as a broker that went down
//! (or a network partition) does to its clients.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::free_port;

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    stop: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
}

/// A proxy from `127.0.0.1:port` to a target address; stopped when dropped.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 to `target` (`host:port`).
    pub fn start(target: &str) -> Proxy {
        Self::start_on(free_port(), target)
    }

    /// A proxy on `port` of 127.0.0.1 to `target` (`host:port`).
    pub fn start_on(port: u16, target: &str) -> Proxy {
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let (shared, target) = (shared.clone(), target.to_owned());
            std::thread::spawn(move || accept(port, &target, &shared))
        };
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes every connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        let open = std::mem::take(&mut *self.shared.open.lock().unwrap_or_else(|p| p.into_inner()));
        for s in open {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Listens while not cut (the port is closed while cut, so connections are refused),
/// and pipes each connection to the target.
fn accept(port: u16, target: &str, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.cut.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let listener = match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => l,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if listener.set_nonblocking(true).is_err() {
            continue;
        }
        while !shared.stop.load(Ordering::SeqCst) && !shared.cut.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((client, _)) => {
                    let _ = client.set_nonblocking(false);
                    if let Ok(server) = TcpStream::connect(target) {
                        pipe(client, server, shared);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

fn pipe(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    {
        let mut open = shared.open.lock().unwrap_or_else(|p| p.into_inner());
        if let (Ok(c3), Ok(s3)) = (client.try_clone(), server.try_clone()) {
            open.push(c3);
            open.push(s3);
        }
    }
    std::thread::spawn(move || copy(client, server));
    std::thread::spawn(move || copy(s2, c2));
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
