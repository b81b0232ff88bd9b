// One thread pool for the whole core: OpenMP. OpenBLAS hands its parallel work to
// OpenMP through its threads callback, so its own pthreads never spin beside ours
// (two spinning pools on two cores made a step 30x slower).
#pragma once

namespace pynn {

void threads_init();             // install the OpenBLAS callback (module import)
void set_num_threads(int n);     // n >= 1; also limits OpenMP and OpenBLAS
int get_num_threads();           // what the next call will use
int effective_threads();         // min(set value, omp_get_max_threads()) of this thread

}  // namespace pynn
