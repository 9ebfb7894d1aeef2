#!/usr/bin/env python3
"""Helpers of scripts/judge-validity.sh.

render TXT WAV   speak a pitch with espeak-ng: voice, speed and channel (clean,
                 background noise, phone band) follow from the file name, so a
                 pitch always gets the same audio and the sets get a spread.
report OUT README  the agreement table per set and pooled by role (development /
                 held out, from the table in rubrics/tests/README.md).
variants SET_DIR OUT N  the first N pitches labelled pass (sorted by name) as
                 the same speech in six containers and at other pauses and pace:
                 OUT/<variant>/cases (links to the labelled files) and
                 OUT/<variant>/audio (the recordings), for `rubric test --audio-dir`.
sample SET_DIR OUT N  links to N cases of the set, picked by a hash of their
                 names (the same every run), for a shorter audio run.
robustness OUT   per pitch, each variant's decision and score against the WAV.
"""
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile

VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3", "en-gb+m3"]
CHANNELS = ["clean", "clean", "noise", "phone"]


def render(txt, wav):
    name = os.path.basename(txt)
    h = int(hashlib.md5(name.encode()).hexdigest(), 16)
    voice = VOICES[h % len(VOICES)]
    speed = 130 + 10 * ((h >> 8) % 7)
    channel = CHANNELS[(h >> 16) % len(CHANNELS)]
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        clean = os.path.join(tmp, "clean.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-f", txt, "-w", raw], check=True)
        # -R: sox's dither is seeded the same every run, so the audio is repeatable.
        subprocess.run(["sox", "-R", raw, "-r", "16000", "-c", "1", "-b", "16", clean], check=True)
        if channel == "noise":
            dur = subprocess.run(["soxi", "-D", clean], check=True, capture_output=True, text=True).stdout.strip()
            noise = os.path.join(tmp, "noise.wav")
            subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", noise,
                            "synth", dur, "brownnoise", "vol", "0.05"], check=True)
            subprocess.run(["sox", "-R", "-m", clean, noise, wav], check=True)
        elif channel == "phone":
            narrow = os.path.join(tmp, "narrow.wav")
            subprocess.run(["sox", "-R", clean, "-r", "8000", narrow, "sinc", "300-3400"], check=True)
            subprocess.run(["sox", "-R", narrow, "-r", "16000", wav], check=True)
        else:
            os.replace(clean, wav)
    print(f"rendered {name}: voice {voice}, {speed} wpm, {channel}")


def kappa(pairs):
    n = len(pairs)
    if n == 0:
        return None
    cats = {c for p in pairs for c in p}
    po = sum(1 for a, b in pairs if a == b) / n
    pe = sum((sum(1 for a, _ in pairs if a == c) / n) * (sum(1 for _, b in pairs if b == c) / n) for c in cats)
    if abs(1 - pe) < 1e-12:
        return None
    return (po - pe) / (1 - pe)


def figures(cases):
    """The issue's rows over a list of (set, case) pairs."""
    n = len(cases)
    passes = [c for _, c in cases if c["expected"] == "pass"]
    per = {}
    for s, c in cases:
        for cid, want in c["expected_criteria"].items():
            got = c["criteria"].get(cid, "unscored")
            per.setdefault((s, cid), []).append((want, got))
    ks = sorted(k for k in (kappa(p) for p in per.values()) if k is not None)
    med = None
    if ks:
        m = len(ks)
        med = ks[m // 2] if m % 2 else (ks[m // 2 - 1] + ks[m // 2]) / 2
    para = [c for _, c in cases if "paraphrase" in c["tags"] and c["expected"] == "pass"]
    worst = [sid for sid, p in per.items() if ks and kappa(p) is not None and kappa(p) <= ks[0] + 1e-9]
    return {
        "n": n,
        "label_rule": sum(c["label_rule_decision"] == c["expected"] for _, c in cases) / max(n, 1),
        "decision": sum(c["decision"] == c["expected"] for _, c in cases) / max(n, 1),
        "false_pass": sum(c["expected"] != "pass" and c["decision"] == "pass" for _, c in cases),
        "false_fail": sum(c["decision"] == "fail" for c in passes),
        "pass_n": len(passes),
        "review": sum(c["decision"] == "borderline" for _, c in cases) / max(n, 1),
        "para": (sum(c["decision"] == "pass" for c in para), len(para)),
        "k_worst": ks[0] if ks else None,
        "k_median": med,
        "worst": worst,
        "inconsistent": [c["name"] for _, c in cases if c.get("inconsistent_label")],
    }


def row(label, role, f):
    k = lambda x: "–" if x is None else f"{x:.2f}"
    return (f"| {label} | {role} | {f['n']} | {100*f['label_rule']:.0f}% | {100*f['decision']:.0f}% | "
            f"{f['false_pass']} | {f['false_fail']} of {f['pass_n']} | {100*f['review']:.0f}% | "
            f"{f['para'][0]} of {f['para'][1]} | {k(f['k_worst'])} / {k(f['k_median'])} |")


def roles(readme):
    out = {}
    for line in open(readme, encoding="utf-8"):
        m = re.match(r"\|\s*`([^`/]+)/?`\s*\|.*\|\s*([a-z ]+?)\s*\|\s*$", line)
        if m:
            out[m.group(1)] = "held out" if "held" in m.group(2) else "development"
    return out


def report(out, readme):
    role_of = roles(readme)
    titles = {
        "typed": "Typed transcripts",
        "audio": "From audio (espeak-ng, whole pipeline)",
        "calibrated": "Typed, each rubric's bars fitted to its own labels (`rubric calibrate`), cross-validated",
        "calibrated-audio": "From audio, each rubric's bars fitted to its own labels, cross-validated",
    }
    for mode in titles:
        files = sorted(f for f in os.listdir(out) if f.startswith(mode + ".") and f.endswith(".json"))
        if not files:
            continue
        print(f"\n### {titles[mode]}\n")
        print("| set | role | cases | label-rule decision | grade decision | false passes | false fails | to review | paraphrases passed | κ worst / median |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        pools = {}
        notes = []
        for f in files:
            s = f[len(mode) + 1:-5]
            data = json.load(open(os.path.join(out, f), encoding="utf-8"))
            cases = [(s, c) for c in data["cases"]]
            role = role_of.get(s, "development")
            pools.setdefault(role, []).extend(cases)
            fig = figures(cases)
            print(row(s, role, fig))
            if "shift_fitted" in data:
                folds = " ".join(f"{x:+.2f}" for x in data["fold_shifts"])
                notes.append(f"{s}: shift fitted on all {data['shift_fitted']:+.2f}; per fold {folds}")
            # Held-out sets are only measured: which criterion is worst is a
            # hint for tuning, so it is shown for development sets only.
            if fig["worst"] and role == "development":
                notes.append(f"{s}: worst κ on {', '.join(c for _, c in fig['worst'])}")
            if fig["inconsistent"]:
                notes.append(f"{s}: labels that break the label rule: {', '.join(fig['inconsistent'])}")
        for role in ("development", "held out"):
            if role in pools:
                print(row(f"**all {role}**", role, figures(pools[role])))
        print("| **bar** | | | ≥ 90% | ≥ 85% | 0 | 0 | ≤ 20% | all | ≥ 0.70 / ≥ 0.80 |")
        for n in notes:
            print(f"- {n}")


CONTAINERS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
    "ogg": ["-c:a", "libopus", "-b:a", "32k"],
    "flac": ["-c:a", "flac"],
    "webm": ["-c:a", "libopus", "-b:a", "24k"],
}


def speak(text, wav, voice, speed):
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), text, "-w", raw], check=True)
        subprocess.run(["sox", "-R", raw, "-r", "16000", "-c", "1", "-b", "16", wav], check=True)


def variants(set_dir, out, n):
    cases = []
    for f in sorted(os.listdir(set_dir)):
        if f.endswith(".expect.toml"):
            name = f[: -len(".expect.toml")]
            if re.search(r'^decision\s*=\s*"pass"', open(os.path.join(set_dir, f)).read(), re.M):
                cases.append(name)
    cases = cases[:n]
    kinds = ["wav"] + list(CONTAINERS) + ["pauses", "fast"]
    for kind in kinds:
        os.makedirs(os.path.join(out, kind, "cases"), exist_ok=True)
        os.makedirs(os.path.join(out, kind, "audio"), exist_ok=True)
    for name in cases:
        txt = os.path.join(set_dir, name + ".txt")
        text = open(txt, encoding="utf-8").read()
        for kind in kinds:
            for ext in (".txt", ".expect.toml"):
                link = os.path.join(out, kind, "cases", name + ext)
                if not os.path.exists(link):
                    os.symlink(os.path.abspath(os.path.join(set_dir, name + ext)), link)
        # One voice for all variants of a pitch: only the container or timing differs.
        base = os.path.join(out, "wav", "audio", name + ".wav")
        if not os.path.exists(base):
            speak(text, base, "en-us", 160)
        for kind, codec in CONTAINERS.items():
            dst = os.path.join(out, kind, "audio", f"{name}.{kind}")
            if not os.path.exists(dst):
                subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", base, *codec,
                                "-bitexact", dst], check=True)
        # 4 s between sentences: inside a rubric whose longest pause allows it.
        dst = os.path.join(out, "pauses", "audio", name + ".wav")
        if not os.path.exists(dst):
            with tempfile.TemporaryDirectory() as tmp:
                parts = []
                for i, sentence in enumerate(s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()):
                    p = os.path.join(tmp, f"{i:03}.wav")
                    speak(sentence, p, "en-us", 160)
                    parts.append(p)
                    if i % 3 == 2:
                        gap = os.path.join(tmp, f"{i:03}g.wav")
                        subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", gap,
                                        "trim", "0", "4"], check=True)
                        parts.append(gap)
                subprocess.run(["sox", "-R", *parts, dst], check=True)
        dst = os.path.join(out, "fast", "audio", name + ".wav")
        if not os.path.exists(dst):
            speak(text, dst, "en-us", 230)
    print(f"variants of {len(cases)} pitches in {out}")


def sample(set_dir, out, n):
    names = sorted(f[: -len(".expect.toml")] for f in os.listdir(set_dir) if f.endswith(".expect.toml"))
    picked = sorted(names, key=lambda x: hashlib.md5(x.encode()).hexdigest())[:n]
    if os.path.isdir(out):
        for f in os.listdir(out):
            os.remove(os.path.join(out, f))
    os.makedirs(out, exist_ok=True)
    for name in picked:
        for ext in (".txt", ".expect.toml"):
            os.symlink(os.path.abspath(os.path.join(set_dir, name + ext)), os.path.join(out, name + ext))


def robustness(out):
    """Rows: same decision across containers / timing, and the score spread."""
    runs = {}
    for kind in sorted(os.listdir(out)):
        for f in sorted(os.listdir(os.path.join(out, kind))):
            if f.endswith(".json"):
                data = json.load(open(os.path.join(out, kind, f), encoding="utf-8"))
                for c in data["cases"]:
                    runs.setdefault((f[:-5], c["name"]), {})[kind] = c
    print("| set | pitch | WAV | MP3 | M4A | OGG | FLAC | WebM | container spread | 4 s pauses | 230 wpm | judged points moved |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    same_c = same_t = total = 0
    for (s, name), by in sorted(runs.items()):
        if "wav" not in by:
            continue
        total += 1
        cell = lambda k: f"{by[k]['decision']} {by[k]['score']:.1f}" if k in by else "–"
        cont = [by[k] for k in ["wav", "mp3", "m4a", "ogg", "flac", "webm"] if k in by]
        spread = max(c["score"] for c in cont) - min(c["score"] for c in cont)
        same_c += all(c["decision"] == cont[0]["decision"] for c in cont) and spread <= 2
        timing = [by[k] for k in ["pauses", "fast"] if k in by]
        moved = max((abs(t["judged_points"] - by["wav"]["judged_points"]) for t in timing), default=0)
        same_t += all(t["decision"] == by["wav"]["decision"] for t in timing) and moved <= 5
        print(f"| {s} | {name} | {cell('wav')} | {cell('mp3')} | {cell('m4a')} | {cell('ogg')} | {cell('flac')} | "
              f"{cell('webm')} | {spread:.1f} | {cell('pauses')} | {cell('fast')} | {moved:.1f} |")
    print(f"\nsame decision and spread ≤ 2 across containers: {same_c} of {total}; "
          f"same decision and judged points within 5 at 4 s pauses / 230 wpm: {same_t} of {total}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["render"] and len(sys.argv) == 4:
        render(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["report"] and len(sys.argv) == 4:
        report(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["variants"] and len(sys.argv) == 5:
        variants(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1:2] == ["sample"] and len(sys.argv) == 5:
        sample(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1:2] == ["robustness"] and len(sys.argv) == 3:
        robustness(sys.argv[2])
    else:
        sys.exit(__doc__)
