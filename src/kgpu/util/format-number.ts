/** 1200 → "1 200": whole numbers with thin groups of three (the sidebar's and the errors' style). */
export function groupDigits(value: number): string {
  const n = Math.round(value);
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}
