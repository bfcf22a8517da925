import { runRole } from '../runtime/entry';

runRole('worker');
