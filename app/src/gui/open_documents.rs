//! Files the desktop asks the running app to open, as opposed to the ones on its command
//! line. On macOS, double-clicking a `.zsync` in Finder or dropping it on the Dock icon
//! starts the app without arguments and then sends `application:openURLs:` to the
//! application's delegate, at launch (before the window exists) and while it runs; winit
//! 0.30 neither handles it nor lets us replace its delegate, so [`macos::listen`] adds the
//! method to winit's delegate class before the event loop runs. Windows and Linux pass
//! the file on the command line instead (`args.control`).
//!
//! The paths go through a channel ([`channel`]): the sending side ([`DocumentInbox`]) is
//! the Objective-C method's, the receiving side ([`OpenedDocuments`]) the app's, which
//! drains it every frame into the same commands as a drop, so everything after the
//! channel is one path on every OS, and tested on Linux by pushing paths into it.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, OnceLock};

use super::runner::Waker;

/// The sending side: hands opened files to the app and wakes it.
#[derive(Clone)]
pub struct DocumentInbox {
    tx: Sender<PathBuf>,
    /// The app's waker, known once the app exists: files opened at launch arrive earlier,
    /// and the first frame drains them.
    waker: Arc<OnceLock<Arc<dyn Waker>>>,
}

/// The receiving side, held by the app.
pub struct OpenedDocuments {
    rx: Receiver<PathBuf>,
    waker: Arc<OnceLock<Arc<dyn Waker>>>,
}

/// A new inbox and the app's side of it.
pub fn channel() -> (DocumentInbox, OpenedDocuments) {
    let (tx, rx) = std::sync::mpsc::channel();
    let waker = Arc::new(OnceLock::new());
    (
        DocumentInbox {
            tx,
            waker: waker.clone(),
        },
        OpenedDocuments { rx, waker },
    )
}

impl DocumentInbox {
    /// The desktop asked to open `paths`.
    pub fn open(&self, paths: impl IntoIterator<Item = PathBuf>) {
        for path in paths {
            // The app is gone (quitting): nobody to open it for.
            let _ = self.tx.send(path);
        }
        if let Some(waker) = self.waker.get() {
            waker.wake();
        }
    }
}

impl OpenedDocuments {
    /// Called by the app once it can be woken: later opens wake it.
    pub fn wake_with(&self, waker: Arc<dyn Waker>) {
        // Set once per inbox; an app made twice on one inbox keeps the first waker.
        let _ = self.waker.set(waker);
    }

    /// The files opened since the last call, in order.
    pub fn take(&self) -> Vec<PathBuf> {
        self.rx.try_iter().collect()
    }
}

#[cfg(target_os = "macos")]
pub mod macos {
    //! `application:openURLs:` on winit's application delegate.

    use std::ffi::CStr;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use objc2::ffi;
    use objc2::rc::Retained;
    use objc2::runtime::{AnyObject, Sel};
    use objc2::sel;
    use objc2_app_kit::NSApplication;
    use objc2_foundation::{MainThreadMarker, NSArray, NSURL};

    use super::DocumentInbox;

    /// Where the method sends the files: an Objective-C method is a plain function with
    /// no closure, so the inbox is the process's.
    static INBOX: OnceLock<DocumentInbox> = OnceLock::new();

    /// The method's Objective-C type: returns void; takes self, the selector, the
    /// NSApplication and the NSArray of NSURLs.
    const OPEN_URLS_TYPES: &CStr = c"v@:@@";

    /// Adds `application:openURLs:` to the class of the application's delegate, which
    /// winit installs in `EventLoop::new()`; call after that and before `run_app`. With
    /// that method AppKit no longer sends the older `application:openFiles:`.
    pub fn listen(inbox: DocumentInbox) -> Result<(), String> {
        let mtm = MainThreadMarker::new()
            .ok_or("the event loop does not run on the main thread".to_string())?;
        INBOX
            .set(inbox)
            .map_err(|_| "the app listens for opened files already".to_string())?;
        let app = NSApplication::sharedApplication(mtm);
        // SAFETY: reading the delegate property on the main thread.
        let delegate = unsafe { app.delegate() }
            .ok_or("the application has no delegate: winit did not install its own")?;
        // SAFETY: every Objective-C object is an AnyObject.
        let delegate: Retained<AnyObject> = unsafe { Retained::cast(delegate) };
        let class = delegate.class();
        let selector = sel!(application:openURLs:);
        if class.responds_to(selector) {
            return Err(format!(
                "{} handles application:openURLs: itself already",
                class.name()
            ));
        }
        let method: extern "C" fn(&AnyObject, Sel, &AnyObject, &NSArray<NSURL>) = open_urls;
        // SAFETY: `method` has the C ABI and the argument types OPEN_URLS_TYPES declares
        // (object references are `id`s); the class is registered and lives as long as the
        // process; the transmute only forgets the argument types, as IMP does in C.
        let added = unsafe {
            let imp: unsafe extern "C" fn() = std::mem::transmute(method);
            ffi::class_addMethod(
                std::ptr::from_ref(class).cast_mut().cast(),
                selector.as_ptr(),
                Some(imp),
                OPEN_URLS_TYPES.as_ptr(),
            )
        };
        if added == ffi::NO {
            return Err(format!(
                "could not add application:openURLs: to {}",
                class.name()
            ));
        }
        Ok(())
    }

    /// `- (void)application:(NSApplication *)app openURLs:(NSArray<NSURL *> *)urls`.
    extern "C" fn open_urls(_this: &AnyObject, _cmd: Sel, _app: &AnyObject, urls: &NSArray<NSURL>) {
        let paths: Vec<PathBuf> = urls.iter().filter_map(file_path).collect();
        if let Some(inbox) = INBOX.get() {
            inbox.open(paths);
        }
    }

    /// The file a `file:` URL names; `None` for other URLs (the app declares no URL scheme,
    /// so none should come).
    fn file_path(url: &NSURL) -> Option<PathBuf> {
        // SAFETY: plain property reads on a valid NSURL.
        unsafe {
            if !url.isFileURL() {
                return None;
            }
            url.path().map(|path| PathBuf::from(path.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Waker for CountingWaker {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn files_opened_before_the_app_exists_wait_for_it_and_later_ones_wake_it() {
        let (inbox, opened) = channel();
        inbox.open([PathBuf::from("/at/launch.zsync")]);
        let waker = Arc::new(CountingWaker::default());
        opened.wake_with(waker.clone());
        assert_eq!(opened.take(), [PathBuf::from("/at/launch.zsync")]);
        assert_eq!(waker.0.load(Ordering::SeqCst), 0);

        inbox.open([PathBuf::from("/a.zsync"), PathBuf::from("/b.zsync")]);
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            opened.take(),
            [PathBuf::from("/a.zsync"), PathBuf::from("/b.zsync")]
        );
        assert!(opened.take().is_empty());
    }
}
