// A small inline-SVG line chart of CPU, memory and disk use over time.
import { s, h, clock, percent } from "./dom.js";
const SERIES = [
    { key: "cpu_percent", label: "CPU", cls: "line-cpu" },
    { key: "memory_percent", label: "Memory", cls: "line-mem" },
    { key: "disk_percent", label: "Disk", cls: "line-disk" },
];
const W = 640;
const H = 180;
const PAD = { left: 36, right: 8, top: 8, bottom: 22 };
/** statusChart draws the samples (oldest first) as percent lines on a 0–100 scale. */
export function statusChart(samples) {
    const pts = samples
        .map((x) => ({ t: Date.parse(x.at), d: x.data ?? {} }))
        .filter((p) => Number.isFinite(p.t))
        .sort((a, b) => a.t - b.t);
    const legend = h("div", { class: "legend" }, SERIES.map((ser) => {
        const last = pts.length ? pts[pts.length - 1].d[ser.key] : undefined;
        return h("span", { class: `legend-item ${ser.cls}` }, h("span", { class: "swatch" }), `${ser.label} ${percent(last)}`);
    }));
    const svg = s("svg", {
        viewBox: `0 0 ${W} ${H}`,
        class: "chart",
        role: "img",
        "aria-label": `CPU, memory and disk use, ${pts.length} samples`,
        "data-samples": pts.length,
    });
    const x0 = PAD.left;
    const x1 = W - PAD.right;
    const y0 = H - PAD.bottom;
    const y1 = PAD.top;
    const y = (v) => y0 - (Math.max(0, Math.min(100, v)) / 100) * (y0 - y1);
    for (const g of [0, 25, 50, 75, 100]) {
        svg.appendChild(s("line", { x1: x0, x2: x1, y1: y(g), y2: y(g), class: "grid" }));
        svg.appendChild(s("text", { x: x0 - 4, y: y(g) + 4, class: "axis", "text-anchor": "end" }, `${g}%`));
    }
    if (pts.length < 2) {
        svg.appendChild(s("text", { x: (x0 + x1) / 2, y: (y0 + y1) / 2, class: "axis", "text-anchor": "middle" }, pts.length ? "one sample so far; waiting for more" : "no status samples yet"));
        return h("div", { class: "chart-box" }, legend, svg);
    }
    const tMin = pts[0].t;
    const tMax = pts[pts.length - 1].t;
    const span = Math.max(1, tMax - tMin);
    const x = (t) => x0 + ((t - tMin) / span) * (x1 - x0);
    for (const ser of SERIES) {
        const coords = pts
            .filter((p) => typeof p.d[ser.key] === "number")
            .map((p) => `${x(p.t).toFixed(1)},${y(p.d[ser.key]).toFixed(1)}`);
        if (coords.length > 0) {
            svg.appendChild(s("polyline", { points: coords.join(" "), class: `series ${ser.cls}`, "data-series": ser.key }));
        }
    }
    svg.appendChild(s("text", { x: x0, y: H - 4, class: "axis", "text-anchor": "start" }, clock(new Date(tMin).toISOString())));
    svg.appendChild(s("text", { x: x1, y: H - 4, class: "axis", "text-anchor": "end" }, clock(new Date(tMax).toISOString())));
    return h("div", { class: "chart-box" }, legend, svg);
}
