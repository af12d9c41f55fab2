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
    ['FROM a\nHEALTHCHECK CMD true\n', /^Vesselfile:2: HEALTHCHECK is not supported/, undefined],
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

describe('helpers', () => {
  it('splits words with quotes and escapes', () => {
    expect(splitWords(`a "b c" 'd e' f\\ g ""`)).toEqual(['a', 'b c', 'd e', 'f g', '']);
  });
  it('substitutes variables like docker', () => {
    const vars = new Map([['A', 'x'], ['E', '']]);
    expect(substitute('$A ${A} ${B:-def} ${E:-empty} ${A:+alt} ${B:+alt} \\$A', vars)).toBe('x x def empty alt  $A');
  });
});
