"""faster-whisper side of scripts/bench-transcribe.sh: same files, same JSON lines
(with the text; `bench-transcribe --score` adds the WER with the same normalisation).

Usage: bench_faster_whisper.py MODEL_DIR THREADS COMPUTE_TYPE AUDIO.raw=REF.txt...
"""
import json
import sys
import time

import numpy as np
from faster_whisper import WhisperModel

PROMPT = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking."


def main():
    model_dir, threads, compute_type, beam, *items = sys.argv[1:]
    started = time.perf_counter()
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type,
                         cpu_threads=int(threads), num_workers=1)
    load_s = time.perf_counter() - started
    for item in items:
        audio_path, ref_path = item.split("=", 1)
        audio = np.fromfile(audio_path, dtype="<i2").astype(np.float32) / 32768.0
        started = time.perf_counter()
        # The same beam, word times and verbatim prompt as pitchgrade's local backend.
        segments, _ = model.transcribe(audio, language="en", beam_size=int(beam), best_of=1,
                                       word_timestamps=True, initial_prompt=PROMPT,
                                       vad_filter=False)
        text = " ".join(s.text.strip() for s in segments)  # decoding happens here
        wall_s = time.perf_counter() - started
        print(json.dumps({
            "engine": f"faster-whisper {compute_type}",
            "file": audio_path,
            "audio_s": len(audio) / 16000,
            "wall_s": wall_s,
            "rtf": wall_s / (len(audio) / 16000),
            "text": text,
            "ref": open(ref_path).read(),
            "load_s": load_s,
        }), flush=True)


if __name__ == "__main__":
    main()
