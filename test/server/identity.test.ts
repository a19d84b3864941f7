import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityError, loadIdentity } from '../../server/identity.ts';
import { ROOT } from '../helpers/process.ts';
import { fingerprint, signTranscript, verifyTranscript } from '../../shared/handshake.ts';

describe('the server identity key', () => {
  it('is made on first run in a file only its owner can read, and is the same key on the next run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'nested', 'identity.jwk');
      const first = await loadIdentity(path);
      assert.equal(first.created, true);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'nested'))).mode & 0o777, 0o700);
      const second = await loadIdentity(path);
      assert.equal(second.created, false);
      assert.equal(second.fingerprint, first.fingerprint);
      assert.equal(first.fingerprint, await fingerprint(first.publicKey));
      assert.equal(first.signingKey.extractable, false);
      assert.deepEqual(first.signingKey.usages, ['sign']);
      const data = new TextEncoder().encode('transcript');
      await verifyTranscript(second.publicKey, data, await signTranscript(first.signingKey, data));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a key file that others could read, saying how to make it private, and changes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'identity.jwk');
      const first = await loadIdentity(path);
      await chmod(path, 0o644);
      await assert.rejects(loadIdentity(path), (error: unknown) => {
        assert.ok(error instanceof IdentityError);
        assert.equal(
          error.message,
          `the identity key ${path} can be read or changed by other users (mode 0644); make it private with: chmod 600 ${path}`,
        );
        return true;
      });
      assert.equal((await stat(path)).mode & 0o777, 0o644, 'refused, not tightened: the person should know');
      await chmod(path, 0o600);
      assert.equal((await loadIdentity(path)).fingerprint, first.fingerprint);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file that is not an ECDSA P-256 private key, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'identity.jwk');
      await writeFile(path, JSON.stringify({ kty: 'oct', k: 'AAAA' }), { mode: 0o600 });
      await assert.rejects(loadIdentity(path), new RegExp(`${path} is not an ECDSA P-256 private key`));
      await writeFile(path, 'not json', { mode: 0o600 });
      await assert.rejects(loadIdentity(path), /cannot read the identity key/);
      assert.equal(await readFile(path, 'utf8'), 'not json', 'a bad key file is never overwritten');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a symbolic link with a clear message, and never changes its target', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const target = join(dir, 'somebody-elses-file');
      await writeFile(target, 'not a key, and not ours to touch\n', { mode: 0o644 });
      const path = join(dir, 'identity.jwk');
      await symlink(target, path);
      await assert.rejects(loadIdentity(path), (error: unknown) => {
        assert.ok(error instanceof IdentityError);
        assert.equal(
          error.message,
          `the identity key ${path} is a symbolic link (to ${target}): refused, and nothing was changed. ` +
            'Give --identity the real file, or remove the link to make a new key',
        );
        return true;
      });
      assert.equal((await stat(target)).mode & 0o777, 0o644, 'the target was not chmod-ed');
      assert.equal(await readFile(target, 'utf8'), 'not a key, and not ours to touch\n');
      // A link to a real key is refused all the same: the key file itself must be the file.
      const key = join(dir, 'real.jwk');
      await loadIdentity(key);
      await chmod(key, 0o640);
      const second = join(dir, 'link.jwk');
      await symlink(key, second);
      await assert.rejects(loadIdentity(second), IdentityError);
      assert.equal((await stat(key)).mode & 0o777, 0o640, 'not chmod-ed through the link either');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('npm run server with a symbolic link for --identity says so in one line and exits 1, no stack trace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'identity.jwk');
      await symlink(join(dir, 'elsewhere.jwk'), path);
      const result = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'server/main.ts', '--no-build', '--port', '0', '--identity', path],
        {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      assert.equal(result.status, 1);
      assert.equal(
        result.stderr,
        `wirechat: the identity key ${path} is a symbolic link (to ${join(dir, 'elsewhere.jwk')}, which does not exist): refused, and nothing was changed. Give --identity the real file, or remove the link to make a new key\n`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a dangling symbolic link with a clear message, and does not create its target', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'identity.jwk');
      const target = join(dir, 'nowhere', 'key.jwk');
      await symlink(target, path);
      await assert.rejects(loadIdentity(path), (error: unknown) => {
        assert.ok(error instanceof IdentityError, String(error));
        assert.match(error.message, /is a symbolic link \(to .*nowhere\/key\.jwk, which does not exist\): refused/);
        return true;
      });
      assert.ok((await lstat(path)).isSymbolicLink(), 'the link is left as it was');
      assert.deepEqual((await readdir(dir)).sort(), ['identity.jwk'], 'no target, no temporary file left behind');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a path that is not a regular file (a directory, a FIFO) instead of hanging or crashing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      await assert.rejects(loadIdentity(dir), /is not a regular file/);
      const fifo = join(dir, 'identity.jwk');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
      await assert.rejects(loadIdentity(fifo), /the identity key .*identity\.jwk is not a regular file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('made by eight loaders at once in one process: one key, every loader gets it, none fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
    try {
      const path = join(dir, 'fresh', 'identity.jwk');
      const loaded = await Promise.all(Array.from({ length: 8 }, () => loadIdentity(path)));
      assert.equal(new Set(loaded.map((i) => i.fingerprint)).size, 1);
      assert.equal(loaded.filter((i) => i.created).length, 1, 'exactly one of them made it');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(join(dir, 'fresh')), ['identity.jwk'], 'no temporary file left behind');
      assert.equal((await loadIdentity(path)).fingerprint, loaded[0]!.fingerprint);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('made by two processes released at the same instant: one key, both get it, neither fails (3 rounds)', async () => {
    // Each process loads Node, tsx and the module first and then waits on its stdin; one write releases both, so
    // they really race for the file (two whole servers would not: their start-up times differ by more than the race).
    const loader = `
      import { loadIdentity } from ${JSON.stringify(new URL('../../server/identity.ts', import.meta.url).href)};
      process.stdin.once('data', async () => {
        try {
          const identity = await loadIdentity(process.argv[1]);
          process.stdout.write(JSON.stringify({ fingerprint: identity.fingerprint, created: identity.created }));
        } catch (error) {
          process.stdout.write(JSON.stringify({ error: String(error) }));
        }
        process.exit(0);
      });
      process.stdout.write('ready\\n');`;
    for (let round = 0; round < 3; round++) {
      const dir = await mkdtemp(join(tmpdir(), 'wirechat-identity-'));
      try {
        const path = join(dir, 'identity.jwk');
        const children = [0, 1].map(() => {
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', loader, path], {
            cwd: ROOT,
            stdio: 'pipe',
          });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          const ready = new Promise<void>((resolve) =>
            child.stdout.on('data', () => out.startsWith('ready') && resolve()),
          );
          const done = new Promise<string>((resolve) => child.on('exit', () => resolve(out.slice('ready\n'.length))));
          return { child, ready, done };
        });
        await Promise.all(children.map((c) => c.ready));
        for (const { child } of children) child.stdin.write('go\n');
        const results = (await Promise.all(children.map((c) => c.done))).map(
          (text) => JSON.parse(text) as { fingerprint?: string; created?: boolean; error?: string },
        );
        for (const result of results) assert.equal(result.error, undefined, `round ${round}: ${result.error}`);
        assert.equal(results[0]!.fingerprint, results[1]!.fingerprint, `round ${round}: one key`);
        assert.equal(results.filter((r) => r.created).length, 1, `round ${round}: made once`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  it('two servers started at once on a fresh HOME both start, with the same key', async () => {
    const home = await mkdtemp(join(tmpdir(), 'wirechat-home-'));
    // A fresh HOME and no --identity: the default ~/.wirechat/identity.jwk, as a new user gets it.
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, NO_COLOR: '1' };
    delete env.WIRECHAT_IDENTITY;
    const start = () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'server/main.ts', '--port', '0', '--host', '127.0.0.1', '--no-build'],
        {
          cwd: ROOT,
          env,
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const banner = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no banner in 60 s; stdout ${out} stderr ${err}`)), 60_000);
        const look = () => {
          const found = /fingerprint ([0-9A-F ]{79})/.exec(out);
          if (found) {
            clearTimeout(timer);
            resolve(found[1]!);
          }
        };
        child.stdout.on('data', look);
        child.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`exited ${code} before its banner; stderr ${err}`));
        });
      });
      return { child, banner };
    };
    const servers = [start(), start()];
    try {
      const [a, b] = await Promise.all(servers.map((s) => s.banner));
      assert.equal(a, b, 'both use the one key that was made');
      const path = join(home, '.wirechat', 'identity.jwk');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(join(home, '.wirechat')), ['identity.jwk']);
    } finally {
      for (const { child } of servers) {
        if (child.exitCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }
      }
      await rm(home, { recursive: true, force: true });
    }
  });
});
