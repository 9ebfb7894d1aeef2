//! The same espeak-ng speech, rendered to every container and codec a rep can
//! upload, must decode to the same duration (within 2%) and the same
//! speech/pause structure as the original WAV.

mod common;

use common::{analyze, Workdir, GAPS};
use pitchgrade::ingest::AudioReport;

/// Encodes the reference speech with ffmpeg `args` and compares it to the WAV.
fn same_as_reference(args: &[&str], name: &str) -> AudioReport {
    same_within(args, name, 0.15)
}

/// As [`same_as_reference`], with pause boundaries allowed to move by `tolerance` seconds.
fn same_within(args: &[&str], name: &str, tolerance: f64) -> AudioReport {
    let w = Workdir::new();
    let wav = w.speech_wav();
    let reference = analyze(&wav).expect("reference wav").report;
    let encoded = w.ffmpeg(&wav, args, name);
    let report = analyze(&encoded)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .report;
    assert_same_structure(&reference, &report, name, tolerance);
    report
}

fn assert_same_structure(
    reference: &AudioReport,
    report: &AudioReport,
    name: &str,
    tolerance: f64,
) {
    let dur_err =
        (report.duration_seconds - reference.duration_seconds).abs() / reference.duration_seconds;
    assert!(
        dur_err < 0.02,
        "{name}: duration {} vs {}",
        report.duration_seconds,
        reference.duration_seconds
    );
    assert_eq!(
        report.pauses.len(),
        reference.pauses.len(),
        "{name}: pauses {:?} vs {:?}",
        report.pauses,
        reference.pauses
    );
    for (p, r) in report.pauses.iter().zip(&reference.pauses) {
        assert!(
            (p.start - r.start).abs() < tolerance && (p.end - r.end).abs() < tolerance,
            "{name}: pause {p:?} vs {r:?}"
        );
    }
    let speech_err =
        (report.speech_seconds - reference.speech_seconds).abs() / reference.speech_seconds;
    assert!(
        speech_err < 0.1,
        "{name}: speech {} vs {}",
        report.speech_seconds,
        reference.speech_seconds
    );
}

#[test]
fn reference_speech_has_the_pauses_it_was_built_with() {
    let w = Workdir::new();
    let r = analyze(&w.speech_wav()).unwrap().report;
    assert_eq!(
        (
            r.format.as_str(),
            r.codec.as_str(),
            r.sample_rate,
            r.channels
        ),
        ("wav", "pcm", 22_050, 1)
    );
    assert_eq!(r.pauses.len(), 2, "{:?}", r.pauses);
    for (pause, gap) in r.pauses.iter().zip(GAPS) {
        // espeak-ng adds a little silence around each sentence.
        assert!(
            pause.seconds() >= gap && pause.seconds() < gap + 0.8,
            "{pause:?} vs gap {gap}"
        );
    }
    assert!(
        r.speech_seconds > 5.0 && r.speech_seconds < r.duration_seconds - 4.0,
        "{r:?}"
    );
    assert!((r.longest_pause_seconds - r.pauses[0].seconds()).abs() < 1e-6);
    assert!(
        r.pitch_median_hz
            .is_some_and(|hz| (70.0..300.0).contains(&hz)),
        "{r:?}"
    );
}

#[test]
fn wav_8_bit() {
    same_as_reference(&["-c:a", "pcm_u8"], "s8.wav");
}

#[test]
fn wav_24_bit() {
    same_as_reference(&["-c:a", "pcm_s24le"], "s24.wav");
}

#[test]
fn wav_32_bit() {
    same_as_reference(&["-c:a", "pcm_s32le"], "s32.wav");
}

#[test]
fn wav_32_bit_float() {
    same_as_reference(&["-c:a", "pcm_f32le"], "f32.wav");
}

#[test]
fn mp3_cbr() {
    let r = same_as_reference(&["-c:a", "libmp3lame", "-b:a", "64k"], "cbr.mp3");
    assert_eq!((r.format.as_str(), r.codec.as_str()), ("mp3", "mp3"));
}

#[test]
fn mp3_vbr_without_xing_header() {
    // Without a Xing header, gapless decoding would cut a VBR MP3 short.
    same_as_reference(
        &["-c:a", "libmp3lame", "-q:a", "5", "-write_xing", "0"],
        "vbr-noxing.mp3",
    );
}

#[test]
fn m4a_aac_index_at_the_end() {
    let r = same_as_reference(&["-c:a", "aac", "-b:a", "64k"], "speech.m4a");
    assert_eq!((r.format.as_str(), r.codec.as_str()), ("mp4", "aac"));
}

#[test]
fn m4a_aac_index_first() {
    same_as_reference(&["-c:a", "aac", "-movflags", "+faststart"], "faststart.m4a");
}

#[test]
fn fragmented_mp4_with_zero_duration_like_safari() {
    // Safari's MediaRecorder writes fragmented MP4 whose header says 0 s.
    same_as_reference(
        &[
            "-c:a",
            "aac",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-f",
            "mp4",
        ],
        "safari.mp4",
    );
}

#[test]
fn mp4_video_gives_its_audio_track() {
    let w = Workdir::new();
    let wav = w.speech_wav();
    let reference = analyze(&wav).unwrap().report;
    let video = w.ffmpeg(
        &wav,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-shortest",
            "-map",
            "1:v",
            "-map",
            "0:a",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
        "video.mp4",
    );
    let report = analyze(&video).unwrap().report;
    assert_same_structure(&reference, &report, "video.mp4", 0.15);
}

#[test]
fn flac() {
    let r = same_as_reference(&["-c:a", "flac"], "speech.flac");
    assert_eq!((r.format.as_str(), r.codec.as_str()), ("flac", "flac"));
}

#[test]
fn ogg_vorbis() {
    let r = same_as_reference(&["-c:a", "libvorbis", "-q:a", "3"], "speech.ogg");
    assert_eq!((r.format.as_str(), r.codec.as_str()), ("ogg", "vorbis"));
}

#[test]
fn ogg_opus() {
    let r = same_as_reference(&["-c:a", "libopus", "-b:a", "32k"], "speech.opus");
    assert_eq!(
        (r.format.as_str(), r.codec.as_str(), r.sample_rate),
        ("ogg", "opus", 48_000)
    );
}

#[test]
fn webm_opus_like_chrome() {
    let r = same_as_reference(
        &["-c:a", "libopus", "-b:a", "32k", "-f", "webm"],
        "speech.webm",
    );
    assert_eq!((r.format.as_str(), r.codec.as_str()), ("webm", "opus"));
}

#[test]
fn phone_audio_at_8_khz() {
    // Nothing above 4 kHz survives, so the voice detector places the end of
    // a sentence's trailing consonants differently; the structure must hold.
    let r = same_within(&["-ar", "8000", "-c:a", "pcm_s16le"], "phone.wav", 0.75);
    assert_eq!(r.sample_rate, 8_000);
}

#[test]
fn stereo_and_multichannel() {
    let r = same_as_reference(&["-ac", "2", "-c:a", "aac"], "stereo.m4a");
    assert_eq!(r.channels, 2);
    let r = same_as_reference(
        &[
            "-af",
            "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0",
            "-c:a",
            "flac",
        ],
        "surround.flac",
    );
    assert_eq!(r.channels, 6);
}

#[test]
fn format_is_detected_from_bytes_not_the_name() {
    let w = Workdir::new();
    let wav = w.speech_wav();
    let m4a = w.ffmpeg(&wav, &["-c:a", "aac", "-f", "mp4"], "actually-m4a.mp3");
    let r = analyze(&m4a).unwrap().report;
    assert_eq!((r.format.as_str(), r.codec.as_str()), ("mp4", "aac"));
}
