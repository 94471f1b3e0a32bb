// The gankit service's page: plain JS talking to this service's /api only (no build step, no
// library, nothing from the internet). Every request goes through call(), which retries when the
// service answers 503 (its work queue is full) after the Retry-After it sends.
"use strict";

const $ = (id) => document.getElementById(id);
let card = null;

function status(id, text, isError) {
  const el = $(id);
  el.textContent = text || "";
  el.classList.toggle("error", Boolean(isError));
}

async function call(url, options, statusId) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, options);
    if (response.status === 503 && attempt < 5) {
      const wait = Math.min(30, Number(response.headers.get("Retry-After")) || 1);
      status(statusId, `the service is busy; retrying in ${wait} s`);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(`${response.status}: ${detail}`);
    }
    return response;
  }
}

// Only the newest request of each kind may update the page: a slow old answer must not
// overwrite a newer one.
const latest = {};
function ticket(kind) { latest[kind] = (latest[kind] || 0) + 1; return latest[kind]; }
function current(kind, t) { return latest[kind] === t; }

function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

function seedOf(id) {
  const value = Number($(id).value);
  return Number.isInteger(value) && value >= 0 && value < 2 ** 32 ? value : null;
}

function classParam() {
  return card && card.classes.length ? `&class=${encodeURIComponent($("class").value)}` : "";
}

// ---- samples -----------------------------------------------------------------------------------

async function loadSamples() {
  const seed = seedOf("seed");
  if (seed === null) { status("sample-status", "seed: an integer in [0, 2**32)", true); return; }
  const t = ticket("samples");
  const n = $("n").value;
  const psi = Number($("truncation").value);
  const url = `/api/sample?seed=${seed}&n=${n}${classParam()}&truncation=${psi}&format=png`;
  status("sample-status", `drawing ${n} samples of seed ${seed}…`);
  try {
    const blob = await (await call(url, {}, "sample-status")).blob();
    if (!current("samples", t)) return;
    const img = $("samples");
    const old = img.src;
    img.onload = () => {
      img.dataset.seed = String(seed);
      img.dataset.loaded = String(t);
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    };
    img.src = URL.createObjectURL(blob);
    status("sample-status", `seed ${seed}, ${n} samples` + (card.classes.length ? `, class ${$("class").value}` : ""));
  } catch (e) {
    if (current("samples", t)) status("sample-status", e.message, true);
  }
}

// ---- the walk between two seeds ----------------------------------------------------------------

let frames = [];

function showFrame() {
  const k = Number($("walk").value);
  if (!frames.length) return;
  const img = $("walk-frame");
  img.src = `data:image/png;base64,${frames[k]}`;
  img.dataset.frame = String(k);
  status("walk-status", `${k + 1} / ${frames.length} of the way from seed ${$("seed-a").value} to seed ${$("seed-b").value}`);
}

async function loadWalk() {
  const a = seedOf("seed-a"), b = seedOf("seed-b");
  if (a === null || b === null) { status("walk-status", "seeds: integers in [0, 2**32)", true); return; }
  const t = ticket("walk");
  const steps = Math.min(16, card.limits.max_steps);
  const url = `/api/interpolate?seeds=${a},${b}&steps=${steps}&slerp=${$("slerp").checked}${classParam()}&format=json`;
  status("walk-status", `walking from seed ${a} to seed ${b}…`);
  try {
    const data = await (await call(url, {}, "walk-status")).json();
    if (!current("walk", t)) return;
    frames = data.frames;
    const slider = $("walk");
    slider.max = String(frames.length - 1);
    if (Number(slider.value) > frames.length - 1) slider.value = "0";
    slider.dataset.seeds = `${a},${b}`;
    showFrame();
  } catch (e) {
    if (current("walk", t)) status("walk-status", e.message, true);
  }
}

// ---- uploads -----------------------------------------------------------------------------------

function upload(files) {
  const form = new FormData();
  for (const f of files) form.append("images", f, f.name);
  return { method: "POST", body: form };
}

async function score(event) {
  event.preventDefault();
  const files = $("score-files").files;
  if (!files.length) { status("score-status", "choose one or more images first", true); return; }
  status("score-status", `asking the discriminator about ${files.length} image(s)…`);
  try {
    const data = await (await call("/api/score", upload(files), "score-status")).json();
    const body = $("score-result").querySelector("tbody");
    body.replaceChildren();
    $("score-head").textContent = data.probability ? "probability real" : `score (${data.verdicts[0].kind})`;
    for (const v of data.verdicts) {
      const row = document.createElement("tr");
      const value = data.probability ? v.probability.toFixed(4) : v.score.toFixed(4);
      for (const text of [v.name || `image ${v.index}`, value, v.note || ""]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      body.appendChild(row);
    }
    $("score-result").hidden = false;
    status("score-status", data.reading);
  } catch (e) {
    status("score-status", e.message, true);
  }
}

// Image-to-image: one image (with its hole mask for inpainting, unless the run degrades a clean
// image itself) in, its translation at its own size (x the super-resolution scale) out. Unpaired
// runs translate in the chosen direction; munit ones in the style of an example, else of a seed.
function showImage(id, src, t) {
  const img = $(id);
  const old = img.src;
  img.onload = () => {
    img.style.width = `${Math.max(224, img.naturalWidth)}px`;
    img.dataset.loaded = String(t);
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  };
  img.src = src;
  $(`${id}-figure`).hidden = false;
}

async function translate(event) {
  event.preventDefault();
  const files = $("translate-file").files;
  if (!files.length) { status("translate-status", "choose an image first", true); return; }
  const info = card.translate;
  const degrade = info.degrade && $("translate-degrade").checked;
  const form = new FormData();
  form.append("images", files[0], files[0].name);
  if (info.mask && !degrade) {
    const masks = $("translate-mask").files;
    if (!masks.length) {
      status("translate-status", "an inpainting run needs the hole mask (white = hole), or tick the clean-image box", true);
      return;
    }
    form.append("masks", masks[0], masks[0].name);
  }
  let extra = "";
  if (info.task === "unpaired") extra += `&direction=${$("translate-direction").value}`;
  if (info.style) {
    const style = $("translate-style").files;
    if (style.length) form.append("style", style[0], style[0].name);
    else {
      const seed = seedOf("translate-seed");
      if (seed === null) { status("translate-status", "seed: an integer in [0, 2**32)", true); return; }
      extra += `&seed=${seed}`;
    }
  }
  const t = ticket("translate");
  const url = `/api/translate?format=json&degrade=${degrade}&convert=${$("translate-convert").checked}${extra}`;
  status("translate-status", "translating…");
  try {
    const data = await (await call(url, { method: "POST", body: form }, "translate-status")).json();
    if (!current("translate", t)) return;
    showImage("translate-input", degrade ? `data:image/png;base64,${data.inputs[0]}` : URL.createObjectURL(files[0]), t);
    showImage("translate-output", `data:image/png;base64,${data.images[0]}`, t);
    const [w, h] = data.sizes[0];
    const what = data.task === "unpaired" ? `${data.source} → ${data.target}` +
      (data.style ? (data.style === "example" ? " in the example's style" : ` in random style of seed ${data.seed}`) : "")
      : `${data.task}${data.scale > 1 ? ` x${data.scale}` : ""}`;
    status("translate-status", `${what}: ${w}x${h} output` + (degrade ? " (from the run's degradation of the upload)" : ""));
  } catch (e) {
    if (current("translate", t)) status("translate-status", e.message, true);
  }
}

// ---- start -------------------------------------------------------------------------------------

function offer(section, note, what) {
  $(note).textContent = what.available ? "" : what.reason;
  for (const el of $(section).querySelectorAll("input, button")) el.disabled = !what.available;
}

async function start() {
  try {
    card = await (await call("/api/model", {}, "model-summary")).json();
  } catch (e) {
    status("model-summary", e.message, true);
    return;
  }
  const shape = card.shape.join("×");
  const classes = card.classes.length ? `, ${card.classes.length} classes` : "";
  const tr = card.translate;
  $("model-summary").textContent = (card.kind === "translator"
    ? (tr.task === "unpaired"
      ? `unpaired translator${card.arch ? ` (${card.arch})` : ""} between ${tr.domains[0]} and ${tr.domains[1]}` +
        (tr.style ? ", with styles" : "")
      : `image-to-image generator${card.arch ? ` (${card.arch})` : ""} for ${tr.task}` + (tr.scale > 1 ? ` x${tr.scale}` : "")) +
      `: ${tr.channels}-channel images of any size`
    : `${card.kind} generator${card.arch ? ` (${card.arch})` : ""}: samples ${shape}${classes}`) +
    (card.data ? `, trained on ${card.data}` : "") +
    (card.kind === "translator" ? ` at ${card.shape.slice(1).join("×")}` : "") +
    (card.loss ? ` with the ${card.loss} loss` : "");
  $("limits").textContent = (card.kind === "translator" ? "" : `at most ${card.limits.max_n} samples, `) +
    `${card.limits.max_images} images of ${(card.limits.max_upload_bytes / 2 ** 20).toFixed(0)} MiB per request, ` +
    `${card.limits.max_pixels.toLocaleString("en")} pixels each`;
  $("readme").textContent = card.readme || "(no README.md)";

  for (const n of [1, 4, 16, 64, 256]) {
    if (n > card.limits.max_n) break;
    $("n").add(new Option(String(n), String(n), n === 16, n === 16));
  }
  if (!$("n").options.length) $("n").add(new Option(String(card.limits.max_n), String(card.limits.max_n)));
  if (card.classes.length) {
    card.classes.forEach((c) => $("class").add(new Option(c, c)));
    $("class-label").hidden = false;
  }
  $("truncation").disabled = !card.truncation;
  $("truncation-label").title = card.truncation ? "" : "this generator does not take a truncation";

  const samplesSoon = debounce(loadSamples, 250);
  const walkSoon = debounce(loadWalk, 250);
  $("seed").addEventListener("input", samplesSoon);
  $("n").addEventListener("change", loadSamples);
  $("class").addEventListener("change", () => { loadSamples(); if (card.interpolate.available) loadWalk(); });
  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
    samplesSoon();
  });
  $("random-seed").addEventListener("click", () => {
    $("seed").value = String(Math.floor(Math.random() * 2 ** 32));
    loadSamples();
  });
  $("walk").addEventListener("input", showFrame);
  for (const id of ["seed-a", "seed-b"]) $(id).addEventListener("input", walkSoon);
  $("slerp").addEventListener("change", loadWalk);
  $("score-form").addEventListener("submit", score);
  $("translate-form").addEventListener("submit", translate);

  offer("score-section", "score-note", card.score);
  offer("translate-section", "translate-note", card.translate);
  if (tr.available) {
    $("translate-mask-label").hidden = !tr.mask;
    $("translate-degrade-label").hidden = !tr.degrade;
    $("translate-convert-label").hidden = false;
    for (const [d, [from, to]] of Object.entries(tr.directions || {})) {
      $("translate-direction").add(new Option(`${from} → ${to}`, d, d === tr.direction, d === tr.direction));
    }
    $("translate-direction-label").hidden = tr.task !== "unpaired";
    $("translate-style-label").hidden = !tr.style;
    $("translate-seed-label").hidden = !tr.style;
    $("translate-degrade").addEventListener("change", () => {
      $("translate-mask-label").hidden = !tr.mask || $("translate-degrade").checked;
    });
  }
  offer("walk-section", "walk-status", card.interpolate);
  if (card.kind !== "translator") {
    loadSamples();
    if (card.interpolate.available) loadWalk();
  } else {
    $("sample-section").hidden = true;
    $("walk-section").hidden = true;
  }
}

start();
