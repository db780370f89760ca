// Node test reporter for scripts/test-repeat.mjs: one JSON line per finished test — its file, its
// name, passed or failed. Suites that failed only because a test in them did are left out (the
// test is reported); a file that failed on its own (crash, non-zero exit) comes as a test named
// after the file.
export default async function* repeatReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    if (event.type === 'test:fail' && details?.error?.failureType === 'subtestsFailed') continue;
    yield `${JSON.stringify({ file, name, ok: event.type === 'test:pass' })}\n`;
  }
}
