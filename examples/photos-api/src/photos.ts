/**
 * The demo catalogue of the Flickr photos API: a few photos whose image data are small SVGs
 * generated here (no downloads, no binary assets in the repository).
 */

export interface Photo {
  id: string;
  title: string;
  /** ISO date the photo was "taken". */
  taken: string;
  width: number;
  height: number;
  /** A `data:image/svg+xml;base64,…` URL, so any client can show it without another request. */
  image: string;
}

interface Scene {
  id: string;
  title: string;
  taken: string;
  sky: string;
  ground: string;
  sun: string;
}

/** Every user's library starts with these; the write route adds to a user's own list. */
const LIBRARY: readonly Scene[] = [
  {
    id: "p-1001",
    title: "Sunrise over Lake Biwa",
    taken: "2026-04-02",
    sky: "#f9c77e",
    ground: "#3a6ea5",
    sun: "#ff7b39",
  },
  {
    id: "p-1002",
    title: "Cherry blossoms in Kyoto",
    taken: "2026-04-05",
    sky: "#fde2e4",
    ground: "#7a9e57",
    sun: "#f28ab2",
  },
  { id: "p-1003", title: "Mount Fuji at dusk", taken: "2026-05-11", sky: "#5b4b8a", ground: "#2d3047", sun: "#f6bd60" },
  {
    id: "p-1004",
    title: "Harbour lights, Yokohama",
    taken: "2026-06-20",
    sky: "#14213d",
    ground: "#274c77",
    sun: "#fca311",
  },
];

/** Public photos for the unauthenticated "explore" route. */
const EXPLORE: readonly Scene[] = [
  {
    id: "e-2001",
    title: "Explore: autumn maples",
    taken: "2026-10-30",
    sky: "#ffe8d6",
    ground: "#b5651d",
    sun: "#d62828",
  },
  {
    id: "e-2002",
    title: "Explore: snow in Sapporo",
    taken: "2026-01-15",
    sky: "#dfe7fd",
    ground: "#ffffff",
    sun: "#9bb1ff",
  },
];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(scene: Scene): Photo {
  const width = 320;
  const height = 200;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="${scene.sky}"/>` +
    `<circle cx="230" cy="80" r="34" fill="${scene.sun}"/>` +
    `<path d="M0 150 L80 95 L150 140 L220 100 L320 150 L320 200 L0 200 Z" fill="${scene.ground}"/>` +
    `<text x="12" y="190" font-family="sans-serif" font-size="14" fill="#ffffff">${escapeXml(scene.title)}</text>` +
    `</svg>`;
  return {
    id: scene.id,
    title: scene.title,
    taken: scene.taken,
    width,
    height,
    image: `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`,
  };
}

export function libraryPhotos(): Photo[] {
  return LIBRARY.map(render);
}

export function explorePhotos(): Photo[] {
  return EXPLORE.map(render);
}

const PALETTE = ["#8ecae6", "#ffb703", "#219ebc", "#fb8500", "#90be6d", "#f94144"] as const;

/** A photo uploaded through `POST /flickr/photos`: its picture is generated from its title. */
export function uploadedPhoto(id: string, title: string, taken: Date): Photo {
  let hash = 0;
  for (const ch of title) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const pick = (n: number): string => PALETTE[(hash >>> (n * 3)) % PALETTE.length] ?? "#888888";
  return render({ id, title, taken: taken.toISOString().slice(0, 10), sky: pick(0), ground: pick(1), sun: pick(2) });
}
