//! Lingering close: once the server is done with a connection, it half-closes it and reads and
//! discards whatever the client still sends until the client closes too, or [`LINGER`] passes.
//!
//! Why: at shutdown HTTP/2 sends GOAWAY, finishes the streams in flight and closes. A client that
//! opened a stream just before it saw the GOAWAY still has bytes on their way. Closing a socket with
//! unread bytes makes the kernel answer with RST instead of FIN, and an RST lets the client's kernel
//! throw away answers that had arrived but were not yet read: a comment held and stored would reach
//! its blog as "connection reset". Half-closing first and draining until the client's FIN (the
//! "lingering close" HTTP/1 servers have long done) lets every written answer arrive.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a closing connection waits for the client to close its side. A well-behaved client
/// closes within a round trip of the GOAWAY; one that does not is cut off after this.
pub(super) const LINGER: Duration = Duration::from_secs(1);

/// A TCP connection that closes by lingering (see the module comment).
pub(super) struct Linger {
    inner: TcpStream,
    /// Set once our side is half-closed: the deadline for the client's FIN.
    lingering: Option<Pin<Box<Sleep>>>,
}

impl Linger {
    pub(super) fn new(inner: TcpStream) -> Linger {
        Linger {
            inner,
            lingering: None,
        }
    }
}

impl Connected for Linger {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Linger {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Linger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Half-close (our FIN follows everything written), then drain until the client's FIN, an error
    /// or the deadline; only then may the socket be dropped without an RST.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.lingering.is_none() {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.lingering = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        let mut scratch = [0u8; 4096];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => continue,
                // The client is gone; there is nothing left to protect.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    if let Some(deadline) = this.lingering.as_mut() {
                        ready!(deadline.as_mut().poll(cx));
                    }
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The client keeps sending while the server closes, as an HTTP/2 client does that opens a stream
    /// just before it sees the GOAWAY. Closed plainly, the unread bytes turn the close into an RST and
    /// the client's next write fails, which makes an HTTP/2 client fail every stream on the connection,
    /// answered or not. Lingering, the client's writes succeed and it reads the whole answer and a
    /// clean end of stream.
    #[tokio::test]
    async fn a_closing_connection_drains_the_client_so_the_answer_arrives() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = Linger::new(server);
        client.write_all(&[7u8; 10_000]).await.unwrap();
        server.write_all(b"answer").await.unwrap();
        let closing = tokio::spawn(async move {
            server.shutdown().await.unwrap();
            drop(server);
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..10 {
            client.write_all(&[8u8; 10_000]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"answer");
        client.shutdown().await.unwrap();
        drop(client);
        closing.await.unwrap();
    }

    /// A client that never closes holds the connection no longer than the deadline.
    #[tokio::test]
    async fn a_client_that_never_closes_is_cut_off_after_the_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = Linger::new(server);
        tokio::time::timeout(LINGER * 10, server.shutdown())
            .await
            .expect("the linger ends at its deadline")
            .unwrap();
        drop(client);
    }
}
