import type { RegistryUrl } from './url.js';
import type { Registry } from './transport.js';
import { DumbRegistry } from './layout.js';

/**
 * A Registry for a parsed URL. Each transport is imported only when used: `vessel pull file://…`
 * never loads the AWS SDK or ssh2.
 */
export async function openRegistry(u: RegistryUrl): Promise<Registry> {
  switch (u.scheme) {
    case 'file': {
      const { FileTransport } = await import('./file.js');
      return new DumbRegistry(new FileTransport(u.path, u.display));
    }
    case 'http':
    case 'https': {
      const { HttpTransport } = await import('./http.js');
      return new DumbRegistry(new HttpTransport(u.base, u.auth, u.display));
    }
    case 's3': {
      const { S3Transport } = await import('./s3.js');
      return new DumbRegistry(new S3Transport(u));
    }
    case 'sftp': {
      const { SftpTransport } = await import('./sftp.js');
      return new DumbRegistry(new SftpTransport(u, u.path));
    }
    case 'ftp':
    case 'ftps': {
      const { FtpTransport } = await import('./ftp.js');
      return new DumbRegistry(new FtpTransport(u));
    }
    case 'zfs':
    case 'zfs+ssh': {
      const { openZfsRegistry } = await import('./zfs.js');
      return openZfsRegistry(u);
    }
    case 'oci': {
      const { OciRegistry } = await import('./oci.js');
      return new OciRegistry(u);
    }
  }
}
