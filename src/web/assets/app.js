// pitchgrade pages: recording, upload progress, live status, and the audio
// player's sync with the transcript. Plain JavaScript, no build step; every
// feature degrades to a working HTML form or link without it.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function mmss(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function say(text, isError) {
    const box = $("#status");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("alert", !!isError);
  }

  // ---- Seeking: any [data-seek] control moves the page's player. ----------
  function player() { return $("#player"); }

  function seek(seconds, play) {
    const audio = player();
    if (!audio) return;
    audio.currentTime = Math.max(0, seconds);
    if (play) audio.play().catch(() => {});
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-seek]");
    if (!target) return;
    event.preventDefault();
    seek(parseFloat(target.dataset.seek), true);
  });

  // ---- Rep: record or pick a file, upload with progress. ------------------
  // Chrome and Firefox record WebM/Opus, Safari MP4/AAC; ask the browser.
  const RECORDING_TYPES = [
    "audio/webm;codecs=opus",
    "audio/ogg;codecs=opus",
    "audio/mp4;codecs=mp4a.40.2",
    "audio/mp4",
    "audio/webm",
  ];

  function pickMimeType() {
    if (typeof MediaRecorder === "undefined") return null;
    for (const type of RECORDING_TYPES) {
      if (MediaRecorder.isTypeSupported(type)) return type;
    }
    return "";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function upload(form, blob, fileName) {
    const data = new FormData();
    data.append("rubric", form.elements.rubric.value);
    data.append("idempotency_key", form.dataset.key || (form.dataset.key = newKey()));
    data.append("recording", blob, fileName);
    const box = $("#progress-box");
    const bar = $("#upload-progress");
    const percent = $("#upload-percent");
    box.hidden = false;
    $$("button", form.closest("section")).forEach((b) => (b.disabled = true));
    say("Uploading…");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const p = Math.round((e.loaded / e.total) * 100);
      bar.value = p;
      percent.textContent = p + "%";
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body.url) {
        bar.value = 100;
        percent.textContent = "100%";
        say("Uploaded. Opening your result…");
        window.location.assign(body.url);
      } else {
        say(body.error || "The upload failed (" + xhr.status + "). Try again.", true);
        $$("button", form.closest("section")).forEach((b) => (b.disabled = false));
        delete form.dataset.key;
        if (recorder.blob) $("#rec-submit").disabled = false;
      }
    });
    xhr.addEventListener("error", () => {
      say("The connection dropped during the upload. Try again.", true);
      $$("button", form.closest("section")).forEach((b) => (b.disabled = false));
    });
    xhr.send(data);
  }

  const recorder = { media: null, chunks: [], blob: null, timer: null, started: 0 };

  function initRecord() {
    const form = $("#upload-form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const file = form.elements.recording.files[0];
      if (!file) { say("Choose a recording first.", true); return; }
      upload(form, file, file.name);
    });

    const start = $("#rec-start");
    const stop = $("#rec-stop");
    const submit = $("#rec-submit");
    const preview = $("#rec-preview");
    const timer = $("#rec-timer");
    const box = $("#recorder");
    const mimeType = pickMimeType();
    if (mimeType === null || !navigator.mediaDevices) {
      $("#rec-format").textContent = "This browser cannot record; upload a file instead.";
      start.disabled = true;
      return;
    }
    $("#rec-format").textContent = mimeType ? "Format: " + mimeType.split(";")[0] : "";

    start.addEventListener("click", async () => {
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (err) {
        say("No microphone: " + err.message + ". Allow the microphone or upload a file.", true);
        return;
      }
      recorder.chunks = [];
      recorder.blob = null;
      recorder.media = mimeType ? new MediaRecorder(stream, { mimeType }) : new MediaRecorder(stream);
      recorder.media.addEventListener("dataavailable", (e) => { if (e.data.size) recorder.chunks.push(e.data); });
      recorder.media.addEventListener("stop", () => {
        stream.getTracks().forEach((t) => t.stop());
        const type = recorder.media.mimeType || mimeType || "audio/webm";
        recorder.blob = new Blob(recorder.chunks, { type });
        preview.src = URL.createObjectURL(recorder.blob);
        preview.hidden = false;
        submit.disabled = false;
        say("Recorded " + timer.textContent + ". Listen back, then submit or record again.");
      });
      recorder.media.start(1000);
      recorder.started = Date.now();
      timer.textContent = "0:00";
      recorder.timer = setInterval(() => { timer.textContent = mmss((Date.now() - recorder.started) / 1000); }, 250);
      box.classList.add("is-recording");
      start.disabled = true;
      stop.disabled = false;
      submit.disabled = true;
      say("Recording… speak to the buyer.");
      stop.focus();
    });

    stop.addEventListener("click", () => {
      if (!recorder.media || recorder.media.state === "inactive") return;
      clearInterval(recorder.timer);
      recorder.media.stop();
      box.classList.remove("is-recording");
      start.disabled = false;
      start.textContent = "Record again";
      stop.disabled = true;
    });

    submit.addEventListener("click", () => {
      if (!recorder.blob) return;
      const ext = recorder.blob.type.indexOf("mp4") >= 0 ? "m4a" : recorder.blob.type.indexOf("ogg") >= 0 ? "ogg" : "webm";
      upload(form, recorder.blob, "recording." + ext);
    });
  }

  // ---- Result: poll the status until the grade is in, then reload. --------
  function initPending() {
    const box = $("[data-poll]");
    if (!box) return;
    const url = box.dataset.poll;
    const tick = async () => {
      try {
        const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (res.ok) {
          const s = await res.json();
          $("#live-status").textContent = s.label;
          if (s.final) { window.location.reload(); return; }
        }
      } catch (_) { /* a dropped poll is retried */ }
      setTimeout(tick, 1000);
    };
    setTimeout(tick, 1000);
  }

  // ---- Review: transcript follows the player; evidence per criterion. -----
  function initTranscript() {
    const audio = player();
    const words = $$(".transcript .w");
    if (!audio || !words.length) return;
    const starts = words.map((w) => parseFloat(w.dataset.s));
    let current = null;
    words.forEach((w) => w.addEventListener("click", () => seek(parseFloat(w.dataset.s), true)));
    const follow = () => {
      const t = audio.currentTime;
      let lo = 0, hi = starts.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
      }
      const next = found >= 0 && t <= parseFloat(words[found].dataset.e) + 0.35 ? words[found] : null;
      if (next === current) return;
      if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
      current = next;
      if (current) {
        current.classList.add("current");
        current.setAttribute("aria-current", "true");
        const box = current.closest(".transcript");
        const top = current.offsetTop - box.offsetTop;
        if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - 30) box.scrollTop = top - 40;
      }
    };
    audio.addEventListener("timeupdate", follow);
    audio.addEventListener("seeked", follow);
    let raf = 0;
    const loop = () => { follow(); raf = audio.paused ? 0 : requestAnimationFrame(loop); };
    audio.addEventListener("play", () => { if (!raf) raf = requestAnimationFrame(loop); });
  }

  function initEvidenceToggles() {
    const toggles = $$("[data-show-evidence]");
    const words = $$(".transcript .w");
    const show = (id) => {
      toggles.forEach((t) => {
        const on = t.dataset.showEvidence === id;
        t.setAttribute("aria-pressed", on ? "true" : "false");
        const row = t.closest("tr");
        if (row) row.classList.toggle("selected", on);
      });
      words.forEach((w) => w.classList.toggle("ev-on", !!id && (" " + w.dataset.c + " ").indexOf(" " + id + " ") >= 0));
      const first = words.find((w) => w.classList.contains("ev-on"));
      if (first) {
        const box = first.closest(".transcript");
        box.scrollTop = first.offsetTop - box.offsetTop - 40;
      }
    };
    toggles.forEach((t) => t.addEventListener("click", () => {
      show(t.getAttribute("aria-pressed") === "true" ? null : t.dataset.showEvidence);
    }));
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function initShortcuts() {
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      const audio = player();
      if (event.key === "k" || event.key === "p") {
        if (!audio) return;
        event.preventDefault();
        if (audio.paused) audio.play().catch(() => {}); else audio.pause();
      } else if (event.key === "j" && audio) {
        audio.currentTime = Math.max(0, audio.currentTime - 5);
      } else if (event.key === "l" && audio) {
        audio.currentTime = audio.currentTime + 5;
      } else if (event.key === "n") {
        const next = $("#next-item");
        if (next) { event.preventDefault(); window.location.assign(next.href); }
      }
    });
  }

  function init() {
    const page = document.body.dataset.page;
    if (page === "record") initRecord();
    if (page === "result") initPending();
    if (page === "review" || page === "result") {
      initTranscript();
      initEvidenceToggles();
    }
    if (page === "review" || page === "queue") initShortcuts();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
