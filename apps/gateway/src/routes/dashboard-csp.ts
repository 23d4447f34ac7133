/**
 * The on-call page's Content-Security-Policy: its own files only (no inline script or style
 * element; uPlot sets element styles from script, which CSP allows), never framed.
 */
export const DASHBOARD_CSP =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/**
 * bull-board's (`/dashboard/queues`), from what its page loads (`@bull-board/ui`'s `index.ejs`
 * and bundles): its own scripts, chunks and highlight worker; its stylesheets, inline style
 * attributes and `<style>`; Google Fonts' stylesheet and fonts (IBM Plex); SVG data images;
 * its JSON API. Scripts only from the gateway (none inline: the UI config is a JSON data block),
 * never framed.
 */
export const BULL_BOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
  "font-src 'self' https://fonts.gstatic.com",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
