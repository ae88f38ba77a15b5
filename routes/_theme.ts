/**
 * The page's colours from its background: text and links that stay readable on any
 * BACKGROUND_COLOR, with a WCAG 2 contrast ratio of at least 4.5:1 (normal text, level AA).
 * Parsing comes from `colord` and its `names` plugin. The relative luminance is written here
 * (WCAG 2's formula): colord's `a11y` plugin rounds luminance to two decimals, which let a
 * 4.41:1 pair pass as 4.5:1.
 *
 * @module
 */
import { colord, extend, type RgbColor } from "colord";
import namesPlugin from "colord/plugins/names";

extend([namesPlugin]);

/** The WCAG AA minimum for normal text. */
export const MIN_CONTRAST = 4.5;

/** The theme derived from a background. */
export interface Theme {
  /** The background as configured (a colour name or hex, lower case). */
  background: string;
  /** Text drawn straight on the background. */
  text: string;
  /** Links drawn straight on the background. */
  link: string;
}

// Preferred colours, in order; black and white end each list, and one of them always reaches
// 4.58:1 on an opaque background, so a choice always exists.
const TEXT_ON_LIGHT = ["#111827", "#000000"];
const TEXT_ON_DARK = ["#ffffff"];
const LINK_ON_LIGHT = ["#1d4ed8", "#1e3a8a", "#000000"];
const LINK_ON_DARK = ["#bfdbfe", "#ffffff"];

/**
 * The colour the page really shows: a translucent background (`#rgba`, `#rrggbbaa`) is seen
 * over the browser's white canvas.
 */
function opaque(background: string): RgbColor {
  const color = colord(background);
  if (!color.isValid()) throw new Error(`Unsupported background colour "${background}"`);
  const { r, g, b, a } = color.toRgb();
  const over = (channel: number) => channel * a + 255 * (1 - a);
  return { r: over(r), g: over(g), b: over(b) };
}

/** WCAG 2 relative luminance, from 0 (black) to 1 (white). */
function luminance({ r, g, b }: RgbColor): number {
  const linear = (channel: number) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** The WCAG 2 contrast ratio of two colours, from 1 to 21 (unrounded). */
export function contrastRatio(first: string, second: string): number {
  const a = luminance(opaque(first));
  const b = luminance(opaque(second));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

function pick(background: string, candidates: readonly string[]): string {
  for (const candidate of candidates) {
    if (contrastRatio(background, candidate) >= MIN_CONTRAST) return candidate;
  }
  // Unreachable for an opaque background (see above); the best of the list otherwise.
  return candidates.reduce((best, candidate) =>
    contrastRatio(background, candidate) > contrastRatio(background, best) ? candidate : best
  );
}

/**
 * Text and link colours for `background`, a CSS colour name or hex colour.
 *
 * @example
 * ```ts
 * themeFor("black"); // { background: "black", text: "#ffffff", link: "#bfdbfe" }
 * themeFor("white"); // { background: "white", text: "#111827", link: "#1d4ed8" }
 * ```
 */
export function themeFor(background: string): Theme {
  // Light or dark: which of black and white stands out more.
  const light = contrastRatio(background, "#000000") >= contrastRatio(background, "#ffffff");
  return {
    background,
    text: pick(background, light ? TEXT_ON_LIGHT : TEXT_ON_DARK),
    link: pick(background, light ? LINK_ON_LIGHT : LINK_ON_DARK),
  };
}

/** `/theme.css`: the theme as custom properties that static/style.css uses. */
export function themeCss(theme: Theme): string {
  return `:root{--bg:${theme.background};--fg:${theme.text};--link:${theme.link}}\n`;
}
