//! Progress display: images done out of the total, bytes moved and the transfer rate, on
//! stderr with indicatif. indicatif draws nothing when stderr is not a terminal, so logs and
//! CI output stay clean; failures are logged either way.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::verify::ByteCounter;
use crate::reference::image::ImageRef;

/// How often the byte count and rate are redrawn.
const TICK: Duration = Duration::from_millis(200);

/// The progress display of one run. Cheap to clone.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    ticker: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// A display on stderr (hidden when stderr is not a terminal).
    #[must_use]
    pub fn new() -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} images  {msg}  [{elapsed}]")
                .expect("the progress template is valid"),
        );
        Progress { bar, ticker: Arc::new(Mutex::new(None)) }
    }

    /// A display that never draws (tests, dry runs).
    #[must_use]
    pub fn hidden() -> Progress {
        Progress { bar: ProgressBar::hidden(), ticker: Arc::new(Mutex::new(None)) }
    }

    /// Starts counting `total` images, showing the bytes `bytes` counts and their rate.
    pub fn start_images(&self, total: u64, bytes: ByteCounter) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        if self.bar.is_hidden() {
            return;
        }
        let bar = self.bar.clone();
        let started = Instant::now();
        let handle = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            loop {
                interval.tick().await;
                let moved = bytes.get();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                // a display rate: precision loss above 2^52 bytes/s does not matter
                let rate = (moved as f64 / secs) as u64;
                bar.set_message(format!("{}  {}/s", HumanBytes(moved), HumanBytes(rate)));
                bar.tick();
            }
        });
        if let Ok(mut t) = self.ticker.lock() {
            *t = Some(handle);
        }
    }

    /// One image is done.
    pub fn image_done(&self, image: &ImageRef) {
        tracing::debug!(%image, "mirrored");
        self.bar.inc(1);
    }

    /// One image failed.
    pub fn image_failed(&self, image: &ImageRef, error: &dyn std::fmt::Display) {
        self.bar.suspend(|| tracing::error!(%image, %error, "image failed"));
        self.bar.inc(1);
    }

    /// Stops the display.
    pub fn finish(&self) {
        if let Ok(mut t) = self.ticker.lock()
            && let Some(handle) = t.take()
        {
            handle.abort();
        }
        self.bar.finish_and_clear();
    }
}
