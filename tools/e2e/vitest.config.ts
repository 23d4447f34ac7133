import { projectTestConfig } from '../../vitest.shared.js';

export default projectTestConfig({ testTimeout: 60_000, hookTimeout: 60_000 });
