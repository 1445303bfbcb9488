// Loopback ports: a free one, or a preferred one while nothing listens there.
import * as net from 'node:net';

/** Binds `port` (0: any) on loopback and lets it go; rejects with EADDRINUSE when it is taken. */
function bindAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(port, '127.0.0.1', () => {
      const bound = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(bound));
    });
    srv.on('error', reject);
  });
}

export async function freePort(): Promise<number> {
  return bindAndRelease(0);
}

/** `preferred` when nothing listens there, else a free port. */
export async function portIfFree(preferred: number): Promise<number> {
  return bindAndRelease(preferred).catch(() => freePort());
}
