// The admin API on the registry's Unix socket (DIR/admin.sock, mode 0600):
// request schemas and response types shared by the server and the CLI.
import { z } from 'zod';
import type { ConfigView, NodeView, RevokeResult, TokenView } from './service.js';

export const ADMIN_PATHS = {
  status: '/v1/status',
  tokens: '/v1/tokens',
  tokenRevoke: '/v1/tokens/revoke',
  revoke: '/v1/revoke',
  nodes: '/v1/nodes',
  config: '/v1/config',
} as const;

export const tokenAddSchema = z.strictObject({
  uses: z.number().int().min(1).max(1_000_000).default(1),
  expires: z.string().max(32).optional().describe('duration such as 7d'),
  email: z.string().max(254).optional(),
});
export type TokenAddRequest = z.input<typeof tokenAddSchema>;

export const tokenRevokeSchema = z.strictObject({ token: z.string().min(1).max(256) });
export const revokeSchema = z.strictObject({ target: z.string().min(1).max(128) });
export const configSetSchema = z.strictObject({ set: z.array(z.string().max(4096)).min(1).max(64) });

export interface AdminStatus {
  network_prefix: string;
  node_prefix_length: number;
  ca_fingerprint: string;
  network_config_version: number;
  listen: string;
  urls: string[];
}

export type TokenAddResponse = { token: string } & TokenView;
export interface TokenListResponse { tokens: TokenView[] }
export interface NodesResponse { nodes: NodeView[] }
export type { ConfigView, NodeView, RevokeResult, TokenView };
