import type { Backend, BackendModule, BackendName, BackendOptions } from './backend.js';
import { NotSupportedError, UsageError } from './errors.js';

/** Backends are imported only when used, so `jobctl --help` loads no database driver. */
const loaders: Record<BackendName, () => Promise<BackendModule>> = {
  sqlite: () => import('../backends/sqlite/index.js'),
  pg: () => loadOptional('../backends/postgres/index.js', 'pg'),
  redis: () => loadOptional('../backends/redis/index.js', 'redis'),
  nats: () => loadOptional('../backends/nats/index.js', 'nats'),
};

async function loadOptional(path: string, name: string): Promise<BackendModule> {
  try {
    return (await import(path)) as BackendModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(path.slice(2))) {
      throw new UsageError(`the ${name} backend is not available in this build`, 'use --backend sqlite');
    }
    throw e;
  }
}

export async function openBackend(name: BackendName, options: BackendOptions): Promise<Backend> {
  const mod = await loaders[name]();
  return mod.open(options);
}

export function requireCapability(
  backend: Backend,
  capability: Parameters<Backend['capabilities']['has']>[0],
  hint?: string,
): void {
  if (!backend.capabilities.has(capability)) {
    throw new NotSupportedError(backend.name, capability, hint);
  }
}
