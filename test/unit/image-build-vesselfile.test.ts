import { describe, expect, it } from 'vitest';
import { parseVesselfile, splitWords, substitute } from '../../src/build/vesselfile.js';

describe('parseVesselfile', () => {
  it('parses every instruction with its line number', () => {
    const text = [
      '# a comment',
      'ARG BASE=busybox',
      'FROM ${BASE}:latest',
      'ENV A=1 B="two words" \\',
      '    C=3',
      'ENV LEGACY value with spaces',
      'WORKDIR /app',
      'COPY --chown=app:app site/ /www/',
      'ADD ["rootfs.tar.gz", "/"]',
      'RUN echo hi && \\',
      '    rm -rf /tmp/x',
      'RUN ["/bin/true"]',
      'USER app',
      'EXPOSE 80 53/udp',
      'VOLUME ["/data"]',
      'LABEL org.example.a=b',
      'ENTRYPOINT ["/bin/sh", "-c"]',
      'CMD echo hello',
    ].join('\n');
    const steps = parseVesselfile(text);
    expect(steps.map((s) => `${s.line} ${s.kind}`)).toEqual([
      '2 ARG', '3 FROM', '4 ENV', '6 ENV', '7 WORKDIR', '8 COPY', '9 ADD', '10 RUN', '12 RUN', '13 USER', '14 EXPOSE', '15 VOLUME', '16 LABEL', '17 ENTRYPOINT', '18 CMD',
    ]);
    expect(steps[2]).toMatchObject({ pairs: [['A', '1'], ['B', 'two words'], ['C', '3']] });
    expect(steps[3]).toMatchObject({ pairs: [['LEGACY', 'value with spaces']] });
    expect(steps[5]).toMatchObject({ sources: ['site/'], dest: '/www/', chown: 'app:app' });
    expect(steps[6]).toMatchObject({ sources: ['rootfs.tar.gz'], dest: '/' });
    expect(steps[7]).toMatchObject({ argv: ['/bin/sh', '-c', 'echo hi && rm -rf /tmp/x'], shell: true });
    expect(steps[8]).toMatchObject({ argv: ['/bin/true'], shell: false });
    expect(steps[14]).toMatchObject({ argv: ['/bin/sh', '-c', 'echo hello'] });
  });

  it.each([
    ['FROM a\nFORM b\n', /^Vesselfile:2: unknown instruction FORM$/, /did you mean FROM/],
    ['RUN true\n', /^Vesselfile:1: RUN before FROM$/, /starts with FROM/],
    ['FROM a\nCOPY onlyone\n', /^Vesselfile:2: COPY needs a source and a destination$/, undefined],
    ['FROM a\nCOPY --from=x a b\n', /^Vesselfile:2: COPY --from=x: unknown flag$/, undefined],
    ['FROM a\n\nFROM b\n', /^Vesselfile:3: only one FROM/, undefined],
    ['FROM a\nEXPOSE http\n', /^Vesselfile:2: EXPOSE http: expected PORT/, undefined],
    ['FROM a\nSHELL ["/bin/bash", "-c"]\n', /^Vesselfile:2: SHELL is not supported/, undefined],
    ['FROM a\nHEALTHCHECK --interval=0s CMD true\n', /^Vesselfile:2: HEALTHCHECK --interval: "0s" must be at least 1ms$/, /HEALTHCHECK \[--interval=30s\]/],
    ['FROM a\nHEALTHCHECK --retries=x CMD true\n', /^Vesselfile:2: HEALTHCHECK --retries: "x" is not a whole number$/, undefined],
    ['FROM a\nHEALTHCHECK --start-interval=1s CMD true\n', /^Vesselfile:2: HEALTHCHECK --start-interval: unknown option$/, undefined],
    ['FROM a\nHEALTHCHECK --interval CMD true\n', /^Vesselfile:2: HEALTHCHECK --interval: needs a value/, undefined],
    ['FROM a\nHEALTHCHECK true\n', /^Vesselfile:2: HEALTHCHECK needs CMD command \(or NONE\)$/, undefined],
    ['FROM a\nHEALTHCHECK CMD\n', /^Vesselfile:2: HEALTHCHECK needs CMD command/, undefined],
    ['FROM a\nHEALTHCHECK CMD []\n', /^Vesselfile:2: HEALTHCHECK CMD \[\]: the command is empty$/, undefined],
    ['FROM a\nHEALTHCHECK --retries=2 NONE\n', /^Vesselfile:2: HEALTHCHECK NONE takes no options or arguments$/, undefined],
    ['# nothing\n', /^Vesselfile:1: no FROM instruction$/, undefined],
    ['FROM a\nENV A="unterminated\n', /^Vesselfile:2: unterminated " quote$/, undefined],
  ])('%j is refused at its line', (text, msg, hint) => {
    let err: unknown;
    try {
      parseVesselfile(text);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(msg) });
    if (hint) expect((err as { hint?: string }).hint).toMatch(hint);
  });
});

describe('HEALTHCHECK', () => {
  // The Dockerfile reference's forms, recorded as docker's builder records them in the image
  // config: Test ["CMD", …] / ["CMD-SHELL", "…"] / ["NONE"], durations in nanoseconds.
  it.each([
    ['HEALTHCHECK CMD wget -qO- http://127.0.0.1/ || exit 1', { test: ['CMD-SHELL', 'wget -qO- http://127.0.0.1/ || exit 1'] }],
    ['HEALTHCHECK CMD ["/bin/check", "--fast"]', { test: ['CMD', '/bin/check', '--fast'] }],
    ['healthcheck none', { test: ['NONE'] }],
    ['HEALTHCHECK --interval=5s --timeout=1m30s --start-period=500ms --retries=4 \\\n  CMD true', {
      test: ['CMD-SHELL', 'true'], interval: 5e9, timeout: 90e9, startPeriod: 500e6, retries: 4,
    }],
    ['HEALTHCHECK --start-period=0s CMD true', { test: ['CMD-SHELL', 'true'], startPeriod: 0 }],
  ])('%s', (line, check) => {
    const steps = parseVesselfile(`FROM a\n${line}\n`);
    expect(steps[1]).toEqual({ kind: 'HEALTHCHECK', line: 2, check });
  });
});

describe('helpers', () => {
  it('splits words with quotes and escapes', () => {
    expect(splitWords(`a "b c" 'd e' f\\ g ""`)).toEqual(['a', 'b c', 'd e', 'f g', '']);
  });
  it('substitutes variables like docker', () => {
    const vars = new Map([['A', 'x'], ['E', '']]);
    expect(substitute('$A ${A} ${B:-def} ${E:-empty} ${A:+alt} ${B:+alt} \\$A', vars)).toBe('x x def empty alt  $A');
  });
});
