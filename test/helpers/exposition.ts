// Prometheus's text exposition format (what a metrics listener answers to GET /metrics), read as Prometheus reads it:
// one sample per line, `name{label="value",…} value`, and a `# TYPE name type` line per metric family.

/** Every sample, keyed by its series as printed (`name{label="value",…}`, or the bare name without labels). */
export function exposedSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Every metric family named by a `# TYPE` line: name → type (counter, gauge, histogram, …). */
export function exposedFamilies(text: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) families.set(type[1], type[2]);
  }
  return families;
}
