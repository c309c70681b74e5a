/** The domains permissions are granted on (seeded; extendable by migration). Only Processes uses levels. */
export const DOMAINS = [
  { key: 'processes', name: 'Processes', usesLevels: true },
  { key: 'process_release', name: 'Process Release', usesLevels: false },
  { key: 'process_modules', name: 'Process Modules', usesLevels: false },
  { key: 'process_import_export', name: 'Process Import/Export', usesLevels: false },
  { key: 'process_execution', name: 'Process Execution', usesLevels: false },
  { key: 'tailoring', name: 'Tailoring', usesLevels: false },
  { key: 'files', name: 'Files', usesLevels: false },
  { key: 'file_management', name: 'File Management', usesLevels: false },
  { key: 'comments', name: 'Comments', usesLevels: false },
  { key: 'feedback', name: 'Feedback', usesLevels: false },
  { key: 'compliance', name: 'Compliance', usesLevels: false },
  { key: 'reports', name: 'Reports', usesLevels: false },
  { key: 'report_administration', name: 'Report Administration', usesLevels: false },
  { key: 'landing_pages', name: 'Landing Pages', usesLevels: false },
  { key: 'users', name: 'Users', usesLevels: false },
  { key: 'user_groups', name: 'User Groups', usesLevels: false },
  { key: 'permissions', name: 'Permissions', usesLevels: false },
  { key: 'workspaces', name: 'Workspaces', usesLevels: false },
  { key: 'api_tokens', name: 'API Tokens', usesLevels: false },
  { key: 'maintenance', name: 'Maintenance', usesLevels: false },
] as const;

export type DomainKey = (typeof DOMAINS)[number]['key'];

export const OPERATIONS = ['R', 'M', 'C', 'D'] as const;
export type Operation = (typeof OPERATIONS)[number];
export const OPERATION_NAMES: Record<Operation, string> = { R: 'Read', M: 'Modify', C: 'Create', D: 'Delete' };

export const MAX_LEVEL = 9;
export const ROOT_WORKSPACE_NAME = 'Root';
