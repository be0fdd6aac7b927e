//! A response body made of given frames, yielded one poll at a time: data chunks for the
//! streaming tests, data and then trailers for the gRPC ones.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame};

pub type Bytes = axum::body::Bytes;

/// The frames still to send.
pub struct Frames(pub VecDeque<Frame<Bytes>>);

impl Frames {
    /// One data frame per chunk.
    pub fn data<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Self(
            chunks
                .into_iter()
                .map(|c| Frame::data(Bytes::copy_from_slice(c)))
                .collect(),
        )
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

/// Polls the next frame of a response body.
pub async fn next_frame<B: Body + Unpin>(body: &mut B) -> Option<Result<Frame<B::Data>, B::Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}
