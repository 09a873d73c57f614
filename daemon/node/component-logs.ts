// The daemon's logger per component (`component` field). pino children keep the
// level they were made with, so a log-level change (reload) sets each of them.
import type { Logger } from 'pino';
import type { LogLevel } from '../settings.js';

export class ComponentLogs {
  private readonly children = new Map<string, Logger>();

  constructor(readonly root: Logger) {}

  /** One child per component, made on first use. */
  for(component: string): Logger {
    let child = this.children.get(component);
    if (!child) this.children.set(component, (child = this.root.child({ component })));
    return child;
  }

  setLevel(level: LogLevel): void {
    this.root.level = level;
    for (const child of this.children.values()) child.level = level;
  }
}
