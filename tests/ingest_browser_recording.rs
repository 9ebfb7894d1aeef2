//! What a browser records: Chrome's MediaRecorder output (WebM/Opus written
//! live, with no sizes, no duration and no cues) decodes to its full length.
//! The fixture is 6 s recorded by headless Chromium from espeak-ng speech
//! ("Hello Dana, our customers close the books in four days instead of nine.")
//! looped through its fake microphone, the way tests/browser/rep_upload.mjs records.

use std::path::Path;

use pitchgrade::ingest::{analyze_file, Limits};

#[test]
fn chrome_mediarecorder_webm_decodes_to_the_end() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/chrome-mediarecorder.webm");
    let analysis = analyze_file(&path, &Limits::default(), false).expect("decodes");
    let r = analysis.report;
    assert_eq!((r.format.as_str(), r.codec.as_str()), ("webm", "opus"));
    // 100 packets of 60 ms: the whole recording, not a prefix of it.
    assert!(
        (r.duration_seconds - 6.0).abs() < 0.15,
        "duration {}",
        r.duration_seconds
    );
    assert!(r.speech_seconds > 2.0, "speech {}", r.speech_seconds);
}
